"""The team store's tables. Alembic's migrations (``migrations/versions``) create them;
these classes are how the code reads and writes them.

Every file (a bundle's report, a gallery PNG, a variant, an uploaded sample) is a
``blobs`` row named by its sha256, its bytes in the file store under that name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Blob(Base):
    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelGroup(Base):
    __tablename__ = "model_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    versions: Mapped[list[ModelVersion]] = relationship(back_populates="group")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("group_id", "branch", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("model_groups.id"))
    branch: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    group: Mapped[ModelGroup] = relationship(back_populates="versions")
    runs: Mapped[list[Run]] = relationship(back_populates="version")


class SampleSet(Base):
    __tablename__ = "sample_sets"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    # "uploaded" (people, in the studio) or "run" (the samples a published run used).
    kind: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    items: Mapped[list[SampleItem]] = relationship(
        back_populates="sample_set", order_by="SampleItem.index"
    )


class SampleItem(Base):
    __tablename__ = "sample_items"
    __table_args__ = (UniqueConstraint("set_id", "index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("sample_sets.id"))
    index: Mapped[int] = mapped_column(Integer)
    # What the uploader called it, for display only (never a path).
    label: Mapped[str] = mapped_column(String(200))
    # png, jpeg, npy or npz (a run's whole sample set), decided from the content.
    kind: Mapped[str] = mapped_column(String(10))
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    sample_set: Mapped[SampleSet] = relationship(back_populates="items")


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(12), unique=True)
    # sha256 over the published files' names and hashes: the same run sent twice is a no-op.
    content_sha256: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    sample_set_id: Mapped[int | None] = mapped_column(ForeignKey("sample_sets.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(200))
    with_variants: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[ModelVersion] = relationship(back_populates="runs")
    files: Mapped[list[RunFile]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunFile.name"
    )
    profiles: Mapped[list[RunProfile]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunProfile.profile_id"
    )
    sample_set: Mapped[SampleSet | None] = relationship()


class RunFile(Base):
    __tablename__ = "run_files"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    # The file's name inside the bundle (``report.html``, ``gallery/…png``, ``variants/…``).
    name: Mapped[str] = mapped_column(String(400), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    run: Mapped[Run] = relationship(back_populates="files")


class RunProfile(Base):
    __tablename__ = "run_profiles"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(40))
    variant_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    variant_name: Mapped[str | None] = mapped_column(String(400), nullable=True)
    compute_unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    p50_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    peak_mem_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality: Mapped[float | None] = mapped_column(Float, nullable=True)
    metric: Mapped[str | None] = mapped_column(String(40), nullable=True)
    run: Mapped[Run] = relationship(back_populates="profiles")


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # Only the token's sha256 is kept: a copy of the database gives no one a token.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

"""The team store: records in a database (PostgreSQL, or SQLite for one person) and
files in a content-addressed folder (:mod:`.files`).

Publishing is atomic and idempotent:

1. every file of the run goes into the file store first, under its sha256 (a file
   there is invisible until a record names it);
2. one transaction then writes the model group, version, sample set, the run, its
   files and per-profile figures, and commits last. A publish killed before the
   commit leaves no record: the database rolls the transaction back;
3. the run is keyed on its run id and a hash of its content: the same run sent
   again changes nothing; the same run id with other content replaces the record
   in the same single transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload

from edgeops.errors import UsageError
from edgeops.models import Results
from edgeops.studio.team.files import FileStore
from edgeops.studio.team.schema import (
    Blob,
    ModelGroup,
    ModelVersion,
    Run,
    RunFile,
    RunProfile,
    SampleItem,
    SampleSet,
    Setting,
    Token,
)

ROLES = ("read", "publish", "admin")
DEFAULT_BRANCH = "main"
FILES_SETTING = "files_dir"
# One number both PostgreSQL sessions agree on, so two first starts migrate one at a time.
MIGRATION_LOCK = 0x0ED6E0B5
PUBLISH_ATTEMPTS = 5


def now() -> datetime:
    return datetime.now(UTC)


def engine_url(url: str) -> str:
    """A user's URL as SQLAlchemy's: ``postgresql://`` uses psycopg 3, the driver installed."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_db_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite:///"))


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (Alembic); a no-op when it is there."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


@dataclass
class PublishResult:
    run_id: str
    state: str  # "published", "unchanged" or "replaced"
    files: int
    model: str
    version: str
    branch: str


@dataclass
class BundleFiles:
    """A bundle read for publishing: its results, and each file's name and bytes source."""

    results: Results
    files: dict[str, bytes | Path] = field(default_factory=dict)
    samples: bytes | Path | None = None
    sample_set_ref: tuple[str, int] | None = None  # (name, version) of a studio sample set


class TeamStore:
    def __init__(self, url: str, files_dir: Path | None = None) -> None:
        self.url = url
        if not is_db_url(url):
            raise UsageError(
                f"{redacted(url)!r} is not a store; give postgresql://USER:PASSWORD@HOST/DB "
                "or sqlite:///PATH"
            )
        connect_args: dict[str, Any] = {}
        path = sqlite_path(url)
        if path is not None:
            if not path.parent.is_dir():
                raise UsageError(f"no folder {path.parent} for the store {url}; create it first")
            connect_args = {"timeout": 30}
        try:
            self.engine = sa.create_engine(
                engine_url(url), connect_args=connect_args, pool_pre_ping=True
            )
            migrate(self.engine)
        except (OperationalError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise UsageError(
                f"cannot open the team store {redacted(url)} ({short(exc)}); check the URL and that "
                "the database is up"
            ) from exc
        self.files = FileStore(self._files_dir(files_dir))

    def _files_dir(self, given: Path | None) -> Path:
        with Session(self.engine) as s:
            setting = s.get(Setting, FILES_SETTING)
            if given is not None:
                given = given.resolve()
                if setting is None or setting.value != str(given):
                    s.merge(Setting(key=FILES_SETTING, value=str(given)))
                    s.commit()
                return given
            if setting is not None:
                return Path(setting.value)
        path = sqlite_path(self.url)
        if path is None:
            raise UsageError(
                "this store has no file store yet; give --files DIR (a folder every "
                "publisher and the server can reach) once"
            )
        default = path.resolve().with_name(path.name + ".files")
        with Session(self.engine) as s:
            s.merge(Setting(key=FILES_SETTING, value=str(default)))
            s.commit()
        return default

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------------- publish

    def publish(
        self, bundle: BundleFiles, branch: str = DEFAULT_BRANCH, by: str | None = None
    ) -> PublishResult:
        results = bundle.results
        by = by or f"{_user()}@{socket.gethostname()}"
        # 1. Files first, under their hashes: invisible until the commit names them.
        hashes: dict[str, tuple[str, int]] = {}
        for name, source in sorted(bundle.files.items()):
            hashes[name] = self._put(source)
        samples_hash = self._put(bundle.samples) if bundle.samples is not None else None
        content = hashlib.sha256(
            "\n".join(f"{n}\t{h}" for n, (h, _) in sorted(hashes.items())).encode()
        ).hexdigest()
        # 2. One transaction, committed last; a race on a new group or version retries.
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                with Session(self.engine) as s, s.begin():
                    return self._record(
                        s, results, hashes, samples_hash, bundle, content, branch, by
                    )
            except (IntegrityError, OperationalError):
                # Another publisher made the same group, version or file first (or a
                # deadlock was broken): its rows are there now; the next try finds them.
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _put(self, source: bytes | Path) -> tuple[str, int]:
        if isinstance(source, bytes):
            return self.files.put_bytes(source), len(source)
        return self.files.put_file(source), source.stat().st_size

    def _record(
        self,
        s: Session,
        results: Results,
        hashes: dict[str, tuple[str, int]],
        samples_hash: tuple[str, int] | None,
        bundle: BundleFiles,
        content: str,
        branch: str,
        by: str,
    ) -> PublishResult:
        model, version = results.spec.name, results.spec.version
        existing = s.scalars(sa.select(Run).where(Run.run_id == results.run_id)).one_or_none()
        if existing is not None and existing.content_sha256 == content:
            return PublishResult(results.run_id, "unchanged", len(hashes), model, version, branch)
        # In hash order: two publishers sharing files lock their rows in one order (no deadlock).
        for sha, size in sorted({*hashes.values(), *([samples_hash] if samples_hash else [])}):
            if s.get(Blob, sha) is None:
                s.add(Blob(sha256=sha, size_bytes=size, created_at=now()))
        s.flush()
        group = s.scalars(sa.select(ModelGroup).where(ModelGroup.name == model)).one_or_none()
        if group is None:
            group = ModelGroup(name=model, created_at=now())
            s.add(group)
            s.flush()
        mv = s.scalars(
            sa.select(ModelVersion).where(
                ModelVersion.group_id == group.id,
                ModelVersion.branch == branch,
                ModelVersion.version == version,
            )
        ).one_or_none()
        if mv is None:
            mv = ModelVersion(group_id=group.id, branch=branch, version=version, created_at=now())
            s.add(mv)
            s.flush()
        sample_set = self._run_sample_set(s, results, samples_hash, bundle, by)
        state = "published"
        if existing is not None:
            s.delete(existing)
            s.flush()
            state = "replaced"
        run = Run(
            run_id=results.run_id,
            content_sha256=content,
            version_id=mv.id,
            sample_set_id=sample_set.id if sample_set else None,
            status=_status(results),
            started_at=results.created_at.isoformat(),
            finished_at=None,
            published_at=now(),
            published_by=by[:200],
            with_variants=any(n.startswith("variants/") for n in hashes),
        )
        run.files = [RunFile(name=n, blob_sha256=h) for n, (h, _) in hashes.items()]
        run.profiles = [_profile_row(results, pid) for pid in _profile_ids(results)]
        s.add(run)
        s.flush()
        return PublishResult(results.run_id, state, len(hashes), model, version, branch)

    def _run_sample_set(
        self,
        s: Session,
        results: Results,
        samples_hash: tuple[str, int] | None,
        bundle: BundleFiles,
        by: str,
    ) -> SampleSet | None:
        if bundle.sample_set_ref is not None:
            name, number = bundle.sample_set_ref
            found = s.scalars(
                sa.select(SampleSet).where(SampleSet.name == name, SampleSet.version == number)
            ).one_or_none()
            if found is not None:
                return found
        if results.samples is None or samples_hash is None:
            return None
        sha = results.samples.sha256
        found = s.scalars(
            sa.select(SampleSet).where(SampleSet.sha256 == sha).order_by(SampleSet.id)
        ).first()
        if found is not None:
            return found
        sample_set = SampleSet(
            name=f"{results.spec.name}-samples-{sha[:12]}",
            version=1,
            kind="run",
            sha256=sha,
            count=results.samples.count,
            created_by=by[:200],
            created_at=now(),
        )
        sample_set.items = [
            SampleItem(index=0, label="samples.npz", kind="npz", blob_sha256=samples_hash[0])
        ]
        s.add(sample_set)
        s.flush()
        return sample_set

    # ----------------------------------------------------------------------- sample sets

    def add_sample_set(self, name: str, items: list[tuple[str, str, bytes]], by: str) -> SampleSet:
        """A new version of the named set: ``items`` are (label, kind, bytes), checked already."""
        stored = [
            (label, kind, self.files.put_bytes(data), len(data)) for label, kind, data in items
        ]
        digest = hashlib.sha256("\n".join(sha for *_, sha, _ in stored).encode()).hexdigest()
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                with Session(self.engine, expire_on_commit=False) as s, s.begin():
                    for sha, size in sorted({(sha, size) for _, _, sha, size in stored}):
                        if s.get(Blob, sha) is None:
                            s.add(Blob(sha256=sha, size_bytes=size, created_at=now()))
                    s.flush()
                    last = s.scalar(
                        sa.select(sa.func.max(SampleSet.version)).where(SampleSet.name == name)
                    )
                    sample_set = SampleSet(
                        name=name,
                        version=(last or 0) + 1,
                        kind="uploaded",
                        sha256=digest,
                        count=len(stored),
                        created_by=by[:200],
                        created_at=now(),
                    )
                    sample_set.items = [
                        SampleItem(index=i, label=label[:200], kind=kind, blob_sha256=sha)
                        for i, (label, kind, sha, _) in enumerate(stored)
                    ]
                    s.add(sample_set)
                    s.flush()
                    return sample_set
            except (IntegrityError, OperationalError):
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def sample_sets(self) -> list[SampleSet]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(
                s.scalars(
                    sa.select(SampleSet)
                    .options(selectinload(SampleSet.items))
                    .order_by(SampleSet.name, SampleSet.version.desc())
                )
            )

    def sample_set(self, name: str, version: int | None = None) -> SampleSet | None:
        with Session(self.engine, expire_on_commit=False) as s:
            query = (
                sa.select(SampleSet)
                .options(selectinload(SampleSet.items))
                .where(SampleSet.name == name)
            )
            if version is not None:
                query = query.where(SampleSet.version == version)
            return s.scalars(query.order_by(SampleSet.version.desc())).first()

    # ----------------------------------------------------------------------- reading

    def groups(self) -> list[tuple[ModelGroup, int, int]]:
        """Every model group with its number of versions and runs."""
        with Session(self.engine, expire_on_commit=False) as s:
            rows = s.execute(
                sa.select(
                    ModelGroup,
                    sa.func.count(sa.distinct(ModelVersion.id)),
                    sa.func.count(Run.id),
                )
                .outerjoin(ModelVersion, ModelVersion.group_id == ModelGroup.id)
                .outerjoin(Run, Run.version_id == ModelVersion.id)
                .group_by(ModelGroup.id)
                .order_by(ModelGroup.name)
            ).all()
            return [(g, int(v), int(r)) for g, v, r in rows]

    def group(self, name: str) -> ModelGroup | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.scalars(
                sa.select(ModelGroup)
                .options(
                    selectinload(ModelGroup.versions)
                    .selectinload(ModelVersion.runs)
                    .selectinload(Run.profiles),
                    selectinload(ModelGroup.versions)
                    .selectinload(ModelVersion.runs)
                    .selectinload(Run.sample_set),
                )
                .where(ModelGroup.name == name)
            ).one_or_none()

    def runs(self) -> list[Run]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(
                s.scalars(
                    sa.select(Run)
                    .options(
                        selectinload(Run.version).selectinload(ModelVersion.group),
                        selectinload(Run.profiles),
                    )
                    .order_by(Run.published_at.desc())
                )
            )

    def run(self, run_id: str) -> Run | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.scalars(
                sa.select(Run)
                .options(
                    selectinload(Run.version).selectinload(ModelVersion.group),
                    selectinload(Run.profiles),
                    selectinload(Run.files),
                    selectinload(Run.sample_set),
                )
                .where(Run.run_id == run_id)
            ).one_or_none()

    def version(self, version_id: int) -> ModelVersion | None:
        with Session(self.engine, expire_on_commit=False) as s:
            return s.scalars(
                sa.select(ModelVersion)
                .options(
                    selectinload(ModelVersion.group),
                    selectinload(ModelVersion.runs).selectinload(Run.files),
                    selectinload(ModelVersion.runs).selectinload(Run.sample_set),
                )
                .where(ModelVersion.id == version_id)
            ).one_or_none()

    def results_of(self, run: Run) -> Results | None:
        sha = next((f.blob_sha256 for f in run.files if f.name == "results.json"), None)
        if sha is None:
            return None
        try:
            return Results.model_validate_json(self.files.read(sha))
        except (OSError, ValueError):
            return None

    def file_of(self, run: Run, name: str) -> str | None:
        """The sha256 of the run's file by its bundle name, if the run has it."""
        return next((f.blob_sha256 for f in run.files if f.name == name), None)

    def blob_known(self, sha256: str) -> bool:
        with Session(self.engine) as s:
            return s.get(Blob, sha256) is not None

    # ----------------------------------------------------------------------- tokens

    def create_token(self, role: str, name: str = "") -> str:
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}; give one of {', '.join(ROLES)}")
        token = secrets.token_urlsafe(24)
        with Session(self.engine) as s, s.begin():
            s.add(
                Token(
                    name=name[:200] or role,
                    role=role,
                    sha256=token_hash(token),
                    created_at=now(),
                    revoked=False,
                )
            )
        return token

    def token_role(self, token: str) -> tuple[str, str] | None:
        """The token's role and name, if it is one of this store's and not revoked."""
        with Session(self.engine) as s:
            found = s.scalars(
                sa.select(Token).where(Token.sha256 == token_hash(token), Token.revoked.is_(False))
            ).one_or_none()
            return (found.role, found.name) if found else None

    def has_tokens(self) -> bool:
        with Session(self.engine) as s:
            return bool(
                s.scalar(sa.select(sa.func.count(Token.id)).where(Token.revoked.is_(False)))
            )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_allows(role: str | None, needed: str) -> bool:
    return role is not None and ROLES.index(role) >= ROLES.index(needed)


def _status(results: Results) -> str:
    statuses = {p.status for p in results.plans}
    return "ok" if statuses <= {"ok"} else ",".join(sorted(statuses))


def _profile_ids(results: Results) -> list[str]:
    return list(dict.fromkeys(p.profile_id for p in results.plans))


def _profile_row(results: Results, profile_id: str) -> RunProfile:
    from edgeops.studio.app import _primary

    plan = next(p for p in results.plans if p.profile_id == profile_id)
    figures = _primary(results, profile_id)
    if figures is None:
        return RunProfile(profile_id=profile_id, status=plan.status)
    return RunProfile(
        profile_id=profile_id,
        status=plan.status,
        variant_id=figures["variant_id"],
        variant_name=figures["name"],
        compute_unit=figures["compute_unit"],
        p50_ms=figures["p50_ms"],
        size_bytes=figures["size_bytes"],
        peak_mem_mb=figures["peak_mem_mb"],
        quality=figures["quality"],
        metric=figures["metric"],
    )


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__

"""Alembic's environment: run on the connection :func:`edgeops.studio.team.store.migrate` passes."""

from alembic import context

from edgeops.studio.team.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

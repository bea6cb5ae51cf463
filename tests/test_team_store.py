"""The team store: a real PostgreSQL server from Debian's package, and SQLite."""

import sqlalchemy as sa


def test_postgres_fixture_is_a_real_server(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        addr = conn.execute(sa.text("SELECT inet_server_addr()::text")).scalar_one()
    engine.dispose()
    assert version.split(".")[0].isdigit()
    assert addr.startswith("127.0.0.1")

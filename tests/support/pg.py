"""Finding a PostgreSQL server for the tests, and giving each test its own schema in it.

The server comes from `$INFRASIGNAL_TEST_PG` (a SQLAlchemy URL such as
`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`), else from a few usual local addresses. Each test
gets a fresh schema (so only the CREATE privilege on the database is needed, not CREATEDB) and a URL whose
`options` put that schema first on the search path; the schema is dropped afterwards.

`python -m support.pg` (from tests/) prints the URL of a reachable server and exits 0, else prints why
not and exits 1: `.ci/run` uses it to decide whether to start a throwaway server.
"""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

ENV = "INFRASIGNAL_TEST_PG"

# Tried in order when $INFRASIGNAL_TEST_PG is not set: a local server on the default port and socket.
_LOCAL_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "postgresql+psycopg://{user}@127.0.0.1:5432/postgres",
    "postgresql+psycopg:///postgres",
)


def candidates() -> list[str]:
    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        return [explicit]
    user = quote(getpass.getuser())
    return [c.format(user=user) for c in _LOCAL_CANDIDATES]


def find_server() -> tuple[str | None, str]:
    """(a reachable server URL, "") or (None, a one-line reason)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install -e '.[postgres]')"
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    last = ""
    for url in candidates():
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url, ""
        except Exception as exc:
            last = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        finally:
            engine.dispose()
    if os.environ.get(ENV):
        return None, f"${ENV} is set but the server does not answer: {last[:160]}"
    return None, f"no PostgreSQL server reachable (set ${ENV}=postgresql+psycopg://user@host/db)"


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-csearch_path=<schema>` added (kept by every connection SQLAlchemy makes)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    given = u.query.get("options", "")
    options = " ".join([*([given] if isinstance(given, str) else given), f"-csearch_path={schema}"]).strip()
    return u.update_query_dict({"options": options}).render_as_string(hide_password=False)


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """Create an empty schema and yield a URL that uses it; drop it (and everything in it) afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(server_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    found, why = find_server()
    print(found or why)
    sys.exit(0 if found else 1)

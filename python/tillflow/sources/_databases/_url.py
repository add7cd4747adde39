"""What tillflow needs to know about PostgreSQL and MySQL/MariaDB to read
their tables: connection URLs, catalog reads, quoting, literals and the plan
that says how each column type is read.

Rows never pass through this module: connectorx reads them as Arrow. The
catalog (tables, columns, primary keys) is read with the databases' own
drivers (psycopg, PyMySQL), which also fail fast and clearly on a bad URL,
password or database name before connectorx's connection pool would retry
for half a minute.
"""

from __future__ import annotations

import dataclasses
import urllib.parse

from tillflow._core.errors import config_error
from tillflow._core.secrets import Secret, mask_password, redact
from tillflow.sources._databases._dialect import Dialect, require
from tillflow.sources._databases._mysql import MYSQL
from tillflow.sources._databases._postgres import POSTGRES

__all__ = ["Url", "parse_url", "require"]


@dataclasses.dataclass(frozen=True)
class Url:
    """A database URL: ``conn`` is what connectorx gets, ``redacted`` what
    messages show (the password as ``***``). The password, and so ``conn``,
    are held as [Secret][tillflow.Secret]: masked in reprs, logs and what Prefect
    stores of a flow's parameters."""

    conn: Secret
    redacted: str
    dialect: Dialect
    user: str | None
    password: Secret | None
    host: str
    port: int
    database: str
    query: str

    def scrub(self, text: str) -> str:
        """``text`` with the password taken out, in any form it takes on the
        wire (a short one only where it stands as a credential)."""
        return redact(text)


def parse_url(url: str) -> Url:
    """Check a ``postgresql://`` or ``mysql://`` URL and pick its dialect."""
    if not isinstance(url, str) or "://" not in url:
        raise config_error("url: expected postgresql://user@host:port/db or mysql://user@host:port/db")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower().split("+", 1)[0]  # SQLAlchemy-style "postgresql+psycopg"
    dialect: Dialect
    if scheme in ("postgresql", "postgres"):
        dialect, conn_scheme = POSTGRES, "postgresql"
    elif scheme in ("mysql", "mariadb"):
        dialect, conn_scheme = MYSQL, "mysql"
    else:
        raise config_error(f"url: unsupported scheme {parts.scheme!r}; use postgresql:// or mysql://")
    try:
        port = parts.port or dialect.default_port
    except ValueError as exc:
        raise config_error(f"url: bad port in {_redact(parts)}: {exc}") from None
    if not parts.hostname:
        raise config_error(f"url: no host in {_redact(parts)}")
    password = Secret(urllib.parse.unquote(parts.password)) if parts.password is not None else None
    # The password is registered on its own; the URL around it is no secret.
    conn = urllib.parse.urlunsplit((conn_scheme, parts.netloc, parts.path, parts.query, ""))
    return Url(
        conn=Secret(conn, register=False),
        redacted=_redact(parts._replace(scheme=conn_scheme)),
        dialect=dialect,
        user=urllib.parse.unquote(parts.username) if parts.username else None,
        password=password,
        host=parts.hostname,
        port=port,
        database=urllib.parse.unquote(parts.path.lstrip("/")),
        query=parts.query,
    )


def _redact(parts: urllib.parse.SplitResult) -> str:
    """The URL without its query, its password masked."""
    return mask_password(urllib.parse.urlunsplit(parts._replace(query="", fragment="")))

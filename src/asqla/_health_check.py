"""Why a database could not be reached: a connection error in plain words.

Codes come from each server's documentation: PostgreSQL SQLSTATE classes 28
(invalid authorization), 3D (invalid catalog name) and 53300
(too_many_connections); MariaDB/MySQL client errors 2003/2005 and server
errors 1045, 1698, 1049, 1040 and 3159 (ER_SECURE_TRANSPORT_REQUIRED). The
driver's own words are kept at the end of each paragraph, with the password
scrubbed, so that nothing is lost in the translation.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL

from .exceptions import AsqlaError

if TYPE_CHECKING:
    from .db_check import Problem

__all__ = ["Diagnosis", "diagnose", "is_local_host", "scrub"]

_PG_AUTH = {"28P01", "28000"}  # invalid_password, invalid_authorization_specification
_PG_NO_DATABASE = "3D000"  # invalid_catalog_name
_PG_FULL = {"53300", "57P03"}  # too_many_connections, cannot_connect_now
_MY_AUTH = {1045, 1698, 1044}  # access denied (password; no such user/plugin; database)
_MY_NO_DATABASE = 1049
_MY_USER_FULL = 1203  # ER_TOO_MANY_USER_CONNECTIONS: the account's max_user_connections
_MY_FULL = {1040, _MY_USER_FULL}  # ER_CON_COUNT_ERROR: the server's max_connections
_MY_TLS_REQUIRED = 3159
_MY_UNKNOWN_HOST = 2005
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A problem code and the paragraph that explains it."""

    problem: Problem
    reason: str


def diagnose(exc: BaseException, url: URL, *, timeout: float) -> Diagnosis:
    """Explain why connecting to ``url`` raised ``exc``."""
    chain = list(_chain(exc))
    where = _where(url)
    said = _driver_words(chain)
    for error in chain:
        if isinstance(error, socket.gaierror) or _mysql_code(error) == _MY_UNKNOWN_HOST:
            return Diagnosis(
                "name_not_resolved",
                f"The host name {url.host!r} does not resolve: no DNS entry answers for it. "
                "Check the spelling of the host in the URL, and that this machine can resolve "
                "it (a Docker Compose service name, for one, resolves only inside its network). "
                f"{said}",
            )
        if isinstance(error, ConnectionRefusedError) or (
            isinstance(error, OSError) and error.errno == errno.ECONNREFUSED
        ):
            return Diagnosis(
                "connection_refused",
                f"Nothing accepts connections at {where}: the connection was refused. The "
                "server is not running, listens on another port or address "
                f"({_by_backend(url, 'listen_addresses', 'bind-address')} in its configuration), "
                f"or a firewall rejects the connection. {said}",
            )
    for error in chain:
        state, code = _pg_state(error), _mysql_code(error)
        message = str(error)
        if (state == "28000" and "no encryption" in message) or code == _MY_TLS_REQUIRED:
            return Diagnosis(
                "tls_required",
                f"The server at {where} only accepts encrypted (TLS) connections, and this "
                f"one was not. Add {_by_backend(url, 'ssl=require', 'ssl_ca=/path/to/ca.pem')} "
                f"to the URL's query. {said}",
            )
        if state in _PG_AUTH or code in _MY_AUTH:
            user = url.username or "(none)"
            return Diagnosis(
                "authentication_failed",
                f"The server at {where} refused to log in user {user!r}: the password is "
                "wrong, the user does not exist, or the server does not allow this user from "
                f"this host ({_by_backend(url, 'pg_hba.conf', 'the user@host accounts')}). "
                f"Check the user and password in the URL. {said}",
            )
        if state == _PG_NO_DATABASE or code == _MY_NO_DATABASE:
            return Diagnosis(
                "database_not_found",
                f"The server at {where} has no database named {url.database!r}. Create it "
                f"(CREATE DATABASE), or fix the database name at the end of the URL. {said}",
            )
        if state in _PG_FULL or code in _MY_FULL:
            user = url.username or "(none)"
            own = code == _MY_USER_FULL or "for role" in message
            limit = (
                f"user {user!r} has reached its own connection limit"
                if own
                else "the server has reached its connection limit (max_connections)"
            )
            return Diagnosis(
                "too_many_connections",
                f"The server at {where} refused the connection: {limit}. Lower the pool sizes "
                "of the services that connect (ASQLA_POOL_SIZE, ASQLA_MAX_OVERFLOW, workers), "
                f"or raise the limit. {said}",
            )
        plain_server = "rejected SSL upgrade" in message or "WRONG_VERSION_NUMBER" in message
        if isinstance(error, ConnectionError | ssl.SSLError) and plain_server:
            return Diagnosis(
                "tls_unavailable",
                f"The URL asks for an encrypted (TLS) connection, but the server at {where} "
                "does not offer TLS. Enable TLS on the server, or drop "
                f"{_by_backend(url, 'ssl=require', 'the ssl_* options')} from the URL if the "
                f"network is trusted. {said}",
            )
        if isinstance(error, ssl.SSLError):
            return Diagnosis(
                "tls_failed",
                f"The TLS handshake with the server at {where} failed: most often its "
                "certificate is not signed by a CA this machine trusts, or it names another "
                f"host. Point the URL at the right CA certificate. {said}",
            )
    if any(isinstance(error, TimeoutError) for error in chain):
        return Diagnosis(
            "timeout",
            f"The server at {where} did not answer within {timeout:g}s. A firewall may be "
            "dropping the packets, the host may be down, or the server may be overloaded. "
            "Check that the host and port are right and reachable from here, or give it more "
            "time with --timeout.",
        )
    for error in chain:
        if isinstance(error, TypeError | ValueError) and not isinstance(error, AsqlaError):
            return Diagnosis("invalid_url", _bad_option(url, error))
    return Diagnosis(
        "error",
        f"Connecting to the server at {where} failed: {type(exc).__name__}: {_first_line(exc)}",
    )


def scrub(text: str, password: str) -> str:
    """Return ``text`` with ``password`` (also URL-encoded) replaced by ``***``."""
    if not password:
        return text
    for form in {password, quote(password, safe=""), quote_plus(password)}:
        text = text.replace(form, "***")
    return text


def is_local_host(host: str | None) -> bool:
    """Tell whether ``host`` is this machine (or a Unix socket), where TLS matters little."""
    return host in _LOCAL_HOSTS or (host or "").startswith("/")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _pg_state(error: BaseException) -> str | None:
    state: Any = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else None


def _mysql_code(error: BaseException) -> int | None:
    module = type(error).__module__
    if not module.startswith(("asyncmy", "aiomysql", "pymysql")):
        return None
    code = error.args[0] if error.args else None
    return code if isinstance(code, int) else None


def _by_backend(url: URL, postgresql: str, mysql: str) -> str:
    return postgresql if url.get_backend_name() == "postgresql" else mysql


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return repr(url.database or ":memory:")
    default = {"postgresql": 5432, "mysql": 3306}.get(url.get_backend_name())
    return f"{url.host or 'localhost'}:{url.port or default}"


def _driver_words(chain: list[BaseException]) -> str:
    """The driver's own message, last in the chain: the most specific one."""
    for error in reversed(chain):
        text = _first_line(error)
        if text:
            return f"(The driver said: {text})"
    return ""


def _first_line(error: BaseException) -> str:
    if _mysql_code(error) is not None and len(error.args) > 1:
        return f"{error.args[1]} ({error.args[0]})"
    text = str(error).strip()
    if text.startswith("(") and ") " in text and "sqlalchemy" in text.split(") ", 1)[0]:
        text = text.split(") ", 1)[1]  # "(sqlalchemy...asyncpg.Error) message"
    return text.splitlines()[0] if text else ""


def _bad_option(url: URL, error: BaseException) -> str:
    options = ", ".join(sorted(url.query)) or "none"
    hint = ""
    if "sslmode" in url.query and url.get_driver_name() == "asyncpg":
        hint = (
            " asyncpg does not read libpq's sslmode from the query: write ssl=require "
            "(or ssl=verify-full) instead of sslmode=require."
        )
    return (
        f"The driver {url.get_driver_name()!r} refused the connection options taken from "
        f"the URL's query (options given: {options}).{hint} "
        f"(The driver said: {_first_line(error)})"
    )

"""``asqla db check``: a healthy server, and each failure it names, against the real servers."""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import get_args

import asyncpg
import pytest
from asyncmy.errors import OperationalError as MySQLOperationalError
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from asqla._health_check import diagnose, scrub
from asqla.cli import app, main
from asqla.db_check import Problem, check_database

runner = CliRunner()

RunAdmin = Callable[[str, str], Awaitable[None]]

JSON_KEYS = [
    "schema_version",
    "ok",
    "url",
    "backend",
    "driver",
    "reachable",
    "problem",
    "reason",
    "server",
    "latency_ms",
    "pool",
    "warnings",
]
POOL_KEYS = [
    "workers",
    "preset",
    "pool_size",
    "max_overflow",
    "per_worker",
    "total",
    "max_connections",
    "reserved",
    "available",
    "in_use",
    "fits",
]


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DATABASE_URL", "ASQLA_DATABASE_URL", "ASQLA_PRESET", "ASQLA_POOL_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("ASQLA_MAX_OVERFLOW", raising=False)


def check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", "check", *args])
    return result.exit_code, result.output


def check_json(*args: str) -> tuple[int, dict[str, object]]:
    code, output = check(*args, "--format", "json")
    return code, json.loads(output)


# -- a healthy server --------------------------------------------------------------------


@pytest.fixture
def existing_url(backend: str, database_url: str) -> str:
    """``database_url``, its SQLite file created (the check never creates one)."""
    if backend == "sqlite":
        sqlite3.connect(make_url(database_url).database or "").close()
    return database_url


def test_a_healthy_database_reports_in_json(backend: str, existing_url: str) -> None:
    code, document = check_json(existing_url)
    assert code == 0, document
    assert list(document) == JSON_KEYS
    assert document["schema_version"] == 1
    assert document["ok"] is document["reachable"] is True
    assert document["problem"] is document["reason"] is None
    server = document["server"]
    assert isinstance(server, dict)
    assert list(server) == ["product", "version", "time_zone", "encoding", "tls"]
    latency = document["latency_ms"]
    assert isinstance(latency, dict)
    assert latency["pings"] == 5
    assert 0 < latency["min"] <= latency["median"]
    if backend == "sqlite":
        assert server["product"] == "SQLite"
        assert (server["time_zone"], server["tls"], document["pool"]) == (None, None, None)
    else:
        assert server["product"] in ("PostgreSQL", "MariaDB", "MySQL")
        assert server["tls"] is False  # the test servers run without TLS
        assert server["encoding"] in ("UTF8", "utf8mb4")
        pool = document["pool"]
        assert isinstance(pool, dict)
        assert list(pool) == POOL_KEYS
        assert (pool["workers"], pool["preset"], pool["per_worker"]) == (1, "web", 20)
        assert pool["fits"] is True


def test_a_healthy_database_fits_one_screen(backend: str, existing_url: str) -> None:
    code, output = check(existing_url, "--pings", "3")
    assert code == 0, output
    labels = [line.split(" ", 1)[0] for line in output.splitlines() if line]
    expected = ["Database", "Reachable", "Server", "Latency"]
    expected += ["Encoding"] if backend == "sqlite" else ["Time", "Encoding", "TLS", "Pool"]
    assert labels[: len(expected) + 1] == [*expected, "Status"]
    assert "over 3 pings" in output
    assert "Status     healthy" in output


@pytest.mark.backends("postgresql")
def test_the_url_comes_from_database_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    code, document = check_json()
    assert code == 0
    assert document["backend"] == "postgresql"


# -- pool arithmetic -----------------------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_postgresql_pools_beyond_max_connections_minus_reserved_fail(database_url: str) -> None:
    code, document = check_json(database_url, "--workers", "6")
    assert code == 1
    pool = document["pool"]
    assert isinstance(pool, dict)
    # 6 x (10 + 10) against max_connections - superuser_reserved_connections.
    assert pool["total"] == 120
    assert pool["available"] == pool["max_connections"] - pool["reserved"]  # type: ignore[operator]
    assert pool["reserved"] >= 1  # type: ignore[operator]
    assert pool["fits"] is False
    assert document["ok"] is False and document["reachable"] is True
    warnings = document["warnings"]
    assert isinstance(warnings, list)
    assert "6 worker(s) x 20 connections (pool_size 10 + max_overflow 10) = 120" in warnings[0]
    code, output = check(database_url, "--workers", "6")
    assert code == 1
    assert "NOT HEALTHY: the pools exceed the server's limit" in output


@pytest.mark.backends("postgresql", "mysql")
def test_the_pool_comes_from_the_settings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASQLA_POOL_SIZE", "3")
    monkeypatch.setenv("ASQLA_MAX_OVERFLOW", "2")
    code, document = check_json(database_url, "--workers", "6")
    assert code == 0
    pool = document["pool"]
    assert isinstance(pool, dict)
    assert (pool["pool_size"], pool["max_overflow"], pool["total"]) == (3, 2, 30)
    monkeypatch.setenv("ASQLA_PRESET", "serverless")
    code, document = check_json(database_url)
    assert code == 0
    assert document["pool"]["per_worker"] is None  # type: ignore[index]
    assert "no upper bound per worker" in document["warnings"][0]  # type: ignore[index]


@pytest.fixture
async def mariadb_user(
    backend: str, database_url: str, run_admin: RunAdmin
) -> AsyncIterator[tuple[str, str]]:
    """A MariaDB user with a password and a limit of 5 connections: (name, password)."""
    name, password = f"asqla_chk_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    await run_admin(
        "mysql",
        f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}' WITH MAX_USER_CONNECTIONS 5",
    )
    try:
        yield name, password
    finally:
        await run_admin("mysql", f"DROP USER '{name}'@'127.0.0.1'")


def _mysql_url(database_url: str, user: str, password: str) -> str:
    url = make_url(database_url).set(username=user, password=password)
    return url._replace(database=None).render_as_string(hide_password=False)


@pytest.mark.backends("mysql")
def test_a_users_own_connection_limit_counts(
    database_url: str, mariadb_user: tuple[str, str]
) -> None:
    user, password = mariadb_user
    code, output = check(_mysql_url(database_url, user, password), "--format", "json")
    assert password not in output
    document = json.loads(output)
    assert code == 1, document
    assert document["pool"]["available"] == 5
    assert document["pool"]["fits"] is False


# -- each failure, in plain words ----------------------------------------------------------

UNRESOLVED = "nonexistent.invalid"


def _assert_named(url: str, problem: str, words: str) -> None:
    code, output = check(url, "--format", "json")
    assert "s3cret-pw" not in output
    document = json.loads(output)
    assert code == 1
    assert (document["ok"], document["reachable"], document["problem"]) == (False, False, problem)
    assert words in document["reason"]
    code, output = check(url)
    assert code == 1
    assert "s3cret-pw" not in output
    assert "Reachable  NO: " in output
    assert words in " ".join(output.split())


@pytest.mark.parametrize(
    ("url", "problem", "words"),
    [
        pytest.param(
            f"postgresql://postgres:s3cret-pw@{UNRESOLVED}/app",
            "name_not_resolved",
            "The host name 'nonexistent.invalid' does not resolve",
            id="postgresql-name",
        ),
        pytest.param(
            f"mysql://root:s3cret-pw@{UNRESOLVED}/app",
            "name_not_resolved",
            "The host name 'nonexistent.invalid' does not resolve",
            id="mysql-name",
        ),
        pytest.param(
            "postgresql://postgres:s3cret-pw@127.0.0.1:1/app",
            "connection_refused",
            "Nothing accepts connections at 127.0.0.1:1",
            id="postgresql-refused",
        ),
        pytest.param(
            "mysql://root:s3cret-pw@127.0.0.1:1/app",
            "connection_refused",
            "Nothing accepts connections at 127.0.0.1:1",
            id="mysql-refused",
        ),
        pytest.param(
            "postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres?sslmode=require",
            "invalid_url",
            "write ssl=require (or ssl=verify-full) instead of sslmode=require",
            id="postgresql-sslmode",
        ),
    ],
)
def test_unreachable_servers_are_named_in_plain_words(url: str, problem: str, words: str) -> None:
    _assert_named(url, problem, words)


# What the server itself refuses, staged on the test server: (URL fields, query, problem, words).
REFUSALS = {
    "postgresql": [
        (
            {"username": "no_such_role_asqla", "password": "s3cret-pw"},
            {},
            "authentication_failed",
            "refused to log in user 'no_such_role_asqla'",
        ),
        (
            {"database": "no_such_db_asqla"},
            {},
            "database_not_found",
            "has no database named 'no_such_db_asqla'",
        ),
        ({}, {"ssl": "require"}, "tls_unavailable", "does not offer TLS"),
    ],
    "mysql": [
        (
            {"database": "no_such_db_asqla"},
            {},
            "database_not_found",
            "has no database named 'no_such_db_asqla'",
        ),
        (
            {},
            {"ssl_ca": "/etc/ssl/certs/ca-certificates.crt"},
            "tls_unavailable",
            "does not offer TLS",
        ),
    ],
}


@pytest.mark.backends("postgresql", "mysql")
def test_what_the_server_refuses_is_named_in_plain_words(backend: str, database_url: str) -> None:
    for fields, query, problem, words in REFUSALS[backend]:
        url = make_url(database_url).set(**fields).update_query_dict(query)
        _assert_named(url.render_as_string(hide_password=False), problem, words)


@pytest.mark.backends("mysql")
def test_a_wrong_password_is_an_authentication_failure(
    database_url: str, mariadb_user: tuple[str, str]
) -> None:
    user, password = mariadb_user
    wrong = f"not-{password}"
    for output_format in ("text", "json"):
        code, output = check(_mysql_url(database_url, user, wrong), "--format", output_format)
        assert code == 1
        assert wrong not in output and password not in output
        assert f"refused to log in user '{user}'" in " ".join(output.split())
    # The right password works, and does not show either.
    code, output = check(_mysql_url(database_url, user, password), "--workers", "1")
    assert password not in output
    assert "Reachable  yes" in output


@pytest.mark.backends("postgresql")
async def test_a_role_at_its_connection_limit(run_admin: RunAdmin, database_url: str) -> None:
    role = f"asqla_full_{uuid.uuid4().hex[:8]}"
    await run_admin("postgresql", f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    try:
        url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
        report = await check_database(url)
    finally:
        await run_admin("postgresql", f"DROP ROLE {role}")
    assert report.problem == "too_many_connections"
    assert f"user '{role}' has reached its own connection limit" in (report.reason or "")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshakes; nobody ever answers
        yield listener.getsockname()[1]


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_server_that_does_not_answer_times_out(silent_server: int, scheme: str) -> None:
    url = f"{scheme}://u:s3cret-pw@127.0.0.1:{silent_server}/app"
    code, document = check_json(url, "--timeout", "0.3")
    assert code == 1
    assert document["problem"] == "timeout"
    assert "did not answer within 0.3s" in str(document["reason"])


def test_the_exit_status_reaches_the_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as unhealthy:
        main(["db", "check", "postgresql://postgres:s3cret-pw@127.0.0.1:1/app"])
    assert unhealthy.value.code == 1
    assert "s3cret-pw" not in capsys.readouterr().out
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    main(["db", "check", f"sqlite:///{path}"])  # healthy: returns, exit status 0


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    code, document = check_json(f"sqlite:///{path}")
    assert code == 1
    assert document["problem"] == "database_not_found"
    assert not path.exists()


def test_no_url_at_all_is_explained() -> None:
    code, document = check_json()
    assert code == 1
    assert document["problem"] == "invalid_url"
    assert "No database URL was given" in str(document["reason"])


def test_options_are_checked() -> None:
    code, output = check("sqlite:///x.db", "--workers", "0")
    assert code == 2
    assert "--workers" in output


# -- what cannot be staged on the test servers: the classifier on the drivers' own errors ---


@pytest.mark.parametrize(
    ("error", "url", "problem"),
    [
        pytest.param(
            asyncpg.exceptions.InvalidAuthorizationSpecificationError(
                'no pg_hba.conf entry for host "10.1.2.3", user "app", database "app", '
                "no encryption"
            ),
            "postgresql+asyncpg://app@db/app",
            "tls_required",
            id="postgresql-hostssl-only",
        ),
        pytest.param(
            MySQLOperationalError(
                3159,
                "Connections using insecure transport are prohibited while "
                "--require_secure_transport=ON.",
            ),
            "mysql+asyncmy://app@db/app",
            "tls_required",
            id="mysql-require-secure-transport",
        ),
        pytest.param(
            asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
            "postgresql+asyncpg://app@db/app",
            "too_many_connections",
            id="postgresql-server-full",
        ),
        pytest.param(
            MySQLOperationalError(1040, "Too many connections"),
            "mysql+asyncmy://app@db/app",
            "too_many_connections",
            id="mysql-server-full",
        ),
    ],
)
def test_the_drivers_errors_are_classified(error: Exception, url: str, problem: str) -> None:
    found = diagnose(error, make_url(url), timeout=5)
    assert found.problem == problem
    assert "(The driver said: " in found.reason


def test_scrub_hides_the_password_in_every_encoding() -> None:
    text = "p@ss w/rd, p%40ss%20w%2Frd, p%40ss+w%2Frd"
    assert scrub(text, "p@ss w/rd") == "***, ***, ***"
    assert scrub("nothing to hide", "") == "nothing to hide"


# -- the documented contract ----------------------------------------------------------------

CLI_DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__ if value is not None else None


@pytest.mark.backends("postgresql")
def test_the_documented_json_has_the_real_shape(database_url: str) -> None:
    documented = json.loads(CLI_DOCS.read_text().split("```json\n", 1)[1].split("```", 1)[0])
    _, document = check_json(database_url)
    assert list(documented) == list(document)
    assert _shape(documented) == _shape(document)


def test_every_problem_code_is_documented() -> None:
    text = CLI_DOCS.read_text()
    assert [code for code in get_args(Problem) if f"| `{code}` |" not in text] == []


def test_a_misspelt_setting_is_named_not_blamed_on_the_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASQLA_POOL_SIZ", "20")

    code, document = check_json(f"sqlite:///{tmp_path / 'app.db'}")

    assert code == 1
    assert document["problem"] == "invalid_settings"
    assert "Rename it to ASQLA_POOL_SIZE" in str(document["reason"])


def test_a_misspelt_setting_beside_database_url_is_named_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("ASQLA_POOL_SIZ", "20")

    code, document = check_json()

    assert code == 1
    assert document["problem"] == "invalid_settings"

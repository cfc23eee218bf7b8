"""DatabaseSettings: environment, preset overrides, URL checks, a password that never leaks."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re

import pytest
from pydantic import ValidationError

from asqla import (
    PRESETS,
    ConfigurationError,
    DatabaseSettings,
    DriverNotInstalledError,
)

PASSWORD = "s3cret-pw"
PG_URL = f"postgresql://app:{PASSWORD}@db.example:5432/app"

# Every URL error lists these and gives a pip line.
SUPPORTED = r"Supported URL forms:\n  postgresql://(.|\n)*mysql://(.|\n)*sqlite:///:memory:"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without DATABASE_URL or any ASQLA_ option from the outer shell."""
    for name in list(os.environ):
        if name.upper() == "DATABASE_URL" or name.upper().startswith("ASQLA_"):
            monkeypatch.delenv(name)


# -- the environment ---------------------------------------------------------


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/app")
    assert DatabaseSettings().display_url == "postgresql+asyncpg://app@db.example/app"


def test_asqla_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASQLA_DATABASE_URL", "mysql://app@db.example/app")
    assert DatabaseSettings().display_url == "mysql+asyncmy://app@db.example/app"


def test_asqla_database_url_wins_over_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # A platform sets DATABASE_URL for every app; ASQLA_DATABASE_URL is the
    # deliberate, asqla-specific choice.
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@platform.example/app")
    monkeypatch.setenv("ASQLA_DATABASE_URL", "postgresql://app@chosen.example/app")
    assert "chosen.example" in DatabaseSettings().display_url


def test_an_explicit_url_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@platform.example/app")
    assert DatabaseSettings(url="sqlite:///x.db").display_url == "sqlite+aiosqlite:///x.db"


def test_asqla_prefixed_options_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("ASQLA_PRESET", "worker")
    monkeypatch.setenv("ASQLA_POOL_SIZE", "20")
    monkeypatch.setenv("ASQLA_ECHO", "true")
    monkeypatch.setenv("ASQLA_APPLICATION_NAME", "billing")
    monkeypatch.setenv("ASQLA_STATEMENT_TIMEOUT", "2.5")
    monkeypatch.setenv("ASQLA_SQLITE_BUSY_TIMEOUT", "1.5")
    settings = DatabaseSettings()
    assert settings.preset == "worker"
    assert settings.pool_size == 20
    assert settings.echo is True
    assert settings.application_name == "billing"
    assert settings.statement_timeout == 2.5
    assert settings.sqlite_busy_timeout == 1.5
    assert settings.engine_preset.pool_size == 20
    assert settings.engine_preset.name == "worker"


def test_unprefixed_options_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOL_SIZE", "99")
    assert DatabaseSettings(url="sqlite:///x.db").pool_size is None


def test_no_url_anywhere_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="No database URL was given: set the DATABASE_URL"):
        DatabaseSettings()


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValidationError, match="pool_sise"):
        DatabaseSettings(url="sqlite:///x.db", pool_sise=3)  # type: ignore[call-arg]


# -- presets and overrides ---------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_engine_preset_without_overrides_is_the_preset(preset: str) -> None:
    settings = DatabaseSettings(url="sqlite:///x.db", preset=preset)  # type: ignore[arg-type]
    assert settings.engine_preset == PRESETS[preset]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_engine_preset_applies_set_options_on_top(preset: str) -> None:
    overrides = {
        "pool_size": 3,
        "max_overflow": 7,
        "pool_timeout": 1.5,
        "pool_recycle": 120.0,
        "pool_pre_ping": False,
        "connect_timeout": 2.0,
        "command_timeout": 9.0,
    }
    settings = DatabaseSettings(url="sqlite:///x.db", preset=preset, **overrides)  # type: ignore[arg-type]
    base = PRESETS[preset]
    assert settings.engine_preset == dataclasses.replace(base, **overrides)
    # What settings cannot express stays the preset's.
    assert settings.engine_preset.null_pool is base.null_pool
    assert settings.engine_preset.prepared_statement_cache is base.prepared_statement_cache
    assert settings.engine_preset.name == preset


def test_one_override_leaves_the_other_numbers_alone() -> None:
    settings = DatabaseSettings(url="sqlite:///x.db", preset="worker", pool_timeout=3)
    assert settings.engine_preset == dataclasses.replace(PRESETS["worker"], pool_timeout=3.0)


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="'web', 'worker', 'serverless' or 'pgbouncer'"):
        DatabaseSettings(url="sqlite:///x.db", preset="lambda")  # type: ignore[arg-type]


# -- URL forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "display"),
    [
        pytest.param("postgresql://u@h/db", "postgresql+asyncpg://u@h/db", id="postgresql"),
        pytest.param("postgres://u@h/db", "postgresql+asyncpg://u@h/db", id="postgres-alias"),
        pytest.param(
            "postgresql+asyncpg://u@h:6432/db", "postgresql+asyncpg://u@h:6432/db", id="asyncpg"
        ),
        pytest.param("mysql://u@h/db", "mysql+asyncmy://u@h/db", id="mysql"),
        pytest.param("mysql+aiomysql://u@h/db", "mysql+aiomysql://u@h/db", id="aiomysql"),
        pytest.param("mariadb://u@h/db", "mariadb+asyncmy://u@h/db", id="mariadb"),
        pytest.param("sqlite:///app.db", "sqlite+aiosqlite:///app.db", id="sqlite-relative"),
        pytest.param(
            "sqlite:////var/app.db", "sqlite+aiosqlite:////var/app.db", id="sqlite-absolute"
        ),
        pytest.param("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:", id="sqlite-memory"),
        pytest.param("sqlite://", "sqlite+aiosqlite://", id="sqlite-empty"),
    ],
)
def test_url_gets_its_async_driver_and_stays_readable(url: str, display: str) -> None:
    settings = DatabaseSettings(url=url)
    assert settings.display_url == display
    assert settings.url.get_secret_value() == display  # no password: the stored URL reads the same


def test_memory_url_keeps_its_readable_form() -> None:
    settings = DatabaseSettings(url="sqlite:///:memory:")
    assert settings.url.get_secret_value() == "sqlite+aiosqlite:///:memory:"
    assert "%3A" not in repr(settings)
    assert settings.sqlalchemy_url.database == ":memory:"


def test_special_characters_in_the_password_survive_the_round_trip() -> None:
    settings = DatabaseSettings(url="postgresql://app:p%40ss%3Fw%2Frd@h/db?ssl=require")
    assert settings.sqlalchemy_url.password == "p@ss?w/rd"
    assert settings.sqlalchemy_url.database == "db"
    assert settings.sqlalchemy_url.query == {"ssl": "require"}
    assert settings.display_url == "postgresql+asyncpg://app:***@h/db?ssl=require"


@pytest.mark.parametrize(
    ("url", "problem", "pip"),
    [
        pytest.param(
            f"not a url {PASSWORD}",
            r"The database URL cannot be parsed \(its value is not shown",
            r"pip install 'asqla\[postgresql\]'",
            id="unparseable",
        ),
        pytest.param(
            f"oracle://scott:{PASSWORD}@h/orcl",
            r"'oracle://scott:\*\*\*@h/orcl' names the backend 'oracle', which asqla does not "
            "support",
            r"pip install 'asqla\[postgresql\]' \(or 'asqla\[mysql\]', 'asqla\[sqlite\]'\)",
            id="unsupported-backend",
        ),
        pytest.param(
            f"postgresql+psycopg2://app:{PASSWORD}@h/db",
            r"names the driver 'psycopg2', which is not an asyncio driver asqla supports for "
            r"postgresql\. asqla is async only: use postgresql\+asyncpg://",
            r"pip install 'asqla\[postgresql\]'",
            id="sync-driver-psycopg2",
        ),
        pytest.param(
            f"mysql+pymysql://app:{PASSWORD}@h/db",
            r"names the driver 'pymysql', which is not an asyncio driver asqla supports for "
            r"mysql\. asqla is async only: use mysql\+asyncmy://",
            r"pip install 'asqla\[mysql\]'",
            id="sync-driver-pymysql",
        ),
        pytest.param(
            "sqlite+pysqlite:///app.db",
            r"names the driver 'pysqlite'.*use sqlite\+aiosqlite://",
            r"pip install 'asqla\[sqlite\]'",
            id="sync-driver-pysqlite",
        ),
    ],
)
def test_bad_url_names_the_problem_the_forms_and_the_fix(url: str, problem: str, pip: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        DatabaseSettings(url=url)
    message = str(info.value)
    assert not isinstance(info.value, DriverNotInstalledError)
    assert re.search(problem, message), message
    assert re.search(SUPPORTED, message), message
    assert re.search(pip, message), message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("url", "module", "pip"),
    [
        pytest.param(
            "postgresql://app:{pw}@h/db", "asyncpg", "pip install 'asqla[postgresql]'", id="asyncpg"
        ),
        pytest.param(
            "mysql://app:{pw}@h/db", "asyncmy", "pip install 'asqla[mysql]'", id="asyncmy"
        ),
        pytest.param(
            "mariadb://app:{pw}@h/db", "asyncmy", "pip install 'asqla[mysql]'", id="mariadb-asyncmy"
        ),
        pytest.param(
            "sqlite:///app.db", "aiosqlite", "pip install 'asqla[sqlite]'", id="aiosqlite"
        ),
        # The extras install only the recommended drivers: the alternative is
        # installed by name, or the user switches to the recommended one.
        pytest.param(
            "postgresql+psycopg://app:{pw}@h/db",
            "psycopg",
            "pip install 'psycopg[binary]', or use the recommended driver "
            "(postgresql+asyncpg://) with: pip install 'asqla[postgresql]'",
            id="psycopg",
        ),
        pytest.param(
            "mysql+aiomysql://app:{pw}@h/db",
            "aiomysql",
            "pip install 'aiomysql', or use the recommended driver (mysql+asyncmy://) "
            "with: pip install 'asqla[mysql]'",
            id="aiomysql",
        ),
    ],
)
def test_missing_driver_names_it_and_gives_the_pip_line(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, pip: str
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        if name == module:
            return None  # as if it were not installed
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(DriverNotInstalledError) as info:
        DatabaseSettings(url=url.format(pw=PASSWORD))
    message = str(info.value)
    assert f"needs the {module!r} driver, which is not installed" in message
    assert f"Install it with: {pip}." in message
    assert re.search(SUPPORTED, message), message
    assert PASSWORD not in message


def test_a_missing_driver_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(ConfigurationError, match="'aiosqlite' driver, which is not installed"):
        DatabaseSettings(url="sqlite:///x.db")


# -- the password never leaves -----------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(PASSWORD, id="plain"),
        pytest.param("p@ss:w/rd?", id="special-characters"),
    ],
)
def test_password_is_hidden_in_repr_str_and_display_url(password: str) -> None:
    from urllib.parse import quote

    settings = DatabaseSettings(url=f"postgresql://app:{quote(password, safe='')}@h/db")
    assert settings.sqlalchemy_url.password == password  # it is there, to connect with
    for shown in (repr(settings), str(settings), settings.display_url):
        assert password not in shown
        assert quote(password, safe="") not in shown
        assert "app:***@h/db" in shown


def test_password_in_the_query_string_is_hidden() -> None:
    settings = DatabaseSettings(url=f"postgresql://app@h/db?password={PASSWORD}&ssl=require")
    assert settings.sqlalchemy_url.query["password"] == PASSWORD  # it is there, to connect with
    assert settings.display_url == "postgresql+asyncpg://app@h/db?password=***&ssl=require"
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)


def test_password_is_hidden_in_a_validation_error_for_another_option() -> None:
    with pytest.raises(ValidationError) as info:
        DatabaseSettings(url=PG_URL, pool_size=-1, preset="lambda")  # type: ignore[arg-type]
    for shown in (str(info.value), repr(info.value)):
        assert "pool_size" in shown
        assert PASSWORD not in shown


def test_password_from_the_environment_is_hidden_in_a_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", PG_URL)
    monkeypatch.setenv("ASQLA_POOL_TIMEOUT", "soon")
    with pytest.raises(ValidationError) as info:
        DatabaseSettings()
    assert "pool_timeout" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)


def test_password_is_hidden_when_the_url_itself_is_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://app:{PASSWORD}@h/db")
    with pytest.raises(ConfigurationError) as info:
        DatabaseSettings()
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)


def test_model_dump_hides_the_password() -> None:
    settings = DatabaseSettings(url="postgresql://app:s3cret-pw@db.internal/app")
    assert "s3cret-pw" not in str(settings.model_dump())
    assert "s3cret-pw" not in settings.model_dump_json()
    assert settings.url.get_secret_value() == "postgresql+asyncpg://app:s3cret-pw@db.internal/app"


# -- a misspelt variable fails loudly ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("ASQLA_POOL_SIZ", "ASQLA_POOL_SIZE"),
        ("ASQLA_POOLSIZE", "ASQLA_POOL_SIZE"),
        ("ASQLA_STATMENT_TIMEOUT", "ASQLA_STATEMENT_TIMEOUT"),
        ("ASQLA_DATABSE_URL", "ASQLA_DATABASE_URL"),
        ("asqla_max_overflow_", "ASQLA_MAX_OVERFLOW"),
    ],
)
def test_a_misspelt_option_names_the_one_it_resembles(
    monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    monkeypatch.setenv(variable, "20")

    with pytest.raises(ConfigurationError) as caught:
        DatabaseSettings(url="sqlite:///x.db")

    message = str(caught.value)
    assert f"{variable} is not an asqla setting" in message
    assert f"Rename it to {meant}" in message
    assert "ASQLA_COMMAND_TIMEOUT" in message  # the list of what exists


def test_a_misspelt_option_in_a_subclass_is_caught_too(monkeypatch: pytest.MonkeyPatch) -> None:
    class AppSettings(DatabaseSettings):
        replica_url: str = ""

    monkeypatch.setenv("ASQLA_REPLICA_URL", "x")
    assert AppSettings(url="sqlite:///x.db").replica_url == "x"  # its own field is known
    monkeypatch.setenv("ASQLA_REPLICA_UR", "x")

    with pytest.raises(ConfigurationError, match="Rename it to ASQLA_REPLICA_URL"):
        AppSettings(url="sqlite:///x.db")


@pytest.mark.parametrize(
    "variable", ["ASQLA_CURSOR_SECRET", "ASQLA_REQUIRE_BACKENDS", "ASQLA_SOMETHING_ELSE"]
)
def test_other_asqla_variables_are_left_alone(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # asqla's own variables outside the settings, and names close to no option.
    monkeypatch.setenv(variable, "x" * 32)

    assert DatabaseSettings(url="sqlite:///x.db").pool_size is None

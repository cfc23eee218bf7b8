"""A small FastAPI project to run the plugin on, through pytester, against each backend.

Each run is a separate ``pytest`` process (``runpytest_subprocess``), as a
user's run is: with its own event loops, its own imports of the project and
the plugin loaded the way a user's pytest loads it (the ``pytest11`` entry
point once asqla is installed with it, ``-p asqla.testing._plugin`` before).
"""

from __future__ import annotations

import importlib.metadata
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

PLUGIN = "asqla.testing._plugin"


def pytest_configure(config: pytest.Config) -> None:
    # pytester is a built-in plugin that is off by default; a conftest below
    # the rootdir may not name it in pytest_plugins.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


def plugin_args() -> list[str]:
    """``-p`` for the plugin, unless installing asqla registered it already."""
    installed = importlib.metadata.entry_points(group="pytest11", name="asqla")
    return [] if installed else ["-p", PLUGIN]


MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "article"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
"""

DB = """
from asqla import Database

# From DATABASE_URL, as in production. The tests must never touch that database.
db = Database()
"""

# The developer's own database, which DATABASE_URL names when the tests start.
DEVELOPMENT_DATABASE = "development.db"

MAIN = """
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from asqla.fastapi import ReadSession, Session, install, lifespan

from .db import db
from .models import Article

started = []


@asynccontextmanager
async def app_lifespan(app):
    async with lifespan(db)(app):
        started.append(True)
        yield {"greeting": "hello"}


app = FastAPI(lifespan=app_lifespan)
install(app, db)


class ArticleIn(BaseModel):
    title: str


@app.post("/articles", status_code=201)
async def create_article(body: ArticleIn, session: Session) -> dict:
    article = Article(title=body.title)
    session.add(article)
    await session.flush()
    return {"id": article.id, "title": article.title}


@app.get("/articles")
async def list_articles(session: ReadSession) -> list[str]:
    return list(await session.scalars(select(Article.title).order_by(Article.title)))


@app.get("/articles/{article_id}")
async def get_article(article_id: int, session: ReadSession) -> dict:
    article = await session.get(Article, article_id)
    if article is None:
        raise HTTPException(404, "no such article")
    return {"id": article.id, "title": article.title}


@app.post("/articles/both")
async def write_between_reads(body: ArticleIn, session: Session, reader: ReadSession) -> dict:
    before = await reader.scalar(select(func.count()).select_from(Article))
    session.add(Article(title=body.title))
    await session.flush()
    after = await reader.scalar(select(func.count()).select_from(Article))
    return {"before": before, "after": after}


@app.post("/articles/fail")
async def write_then_fail(body: ArticleIn, session: Session) -> None:
    session.add(Article(title=body.title))
    await session.flush()
    raise HTTPException(422, "rolled back")


@app.get("/greeting")
async def greeting(request: Request) -> str:
    return request.state.greeting
"""

PYPROJECT = """
[tool.asqla]
database = "app.db:db"
app = "app.main:app"
models = "app.models:Base"

[tool.pytest.ini_options]
{ini}
"""

INI_ASYNCIO_AUTO = """
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
filterwarnings = ["error"]
"""


@dataclass
class Project:
    """The project in ``pytester.path``, and a way to run its tests on a database."""

    pytester: pytest.Pytester
    url: str

    def write_tests(self, source: str, name: str = "test_app") -> None:
        self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def run(self, *args: str, url: str | None = None) -> pytest.RunResult:
        """Run the project's tests with the plugin, on the server of ``url``."""
        target = self.url if url is None else url
        options = [f"--asqla-url={target}"] if target else []
        return self.pytester.runpytest_subprocess(
            *plugin_args(), "-p", "no:cacheprovider", *options, *args, timeout=180
        )


@pytest.fixture
def make_project(
    pytester: pytest.Pytester, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Factory: ``make_project(ini=...)`` writes the app into pytester's directory.

    The project's tests get ``database_url``'s *server* as ``--asqla-url``;
    the plugin creates its own database beside the harness's one.
    ``DATABASE_URL`` names a developer's SQLite file, which must never be
    created.
    """
    monkeypatch.delenv("ASQLA_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{DEVELOPMENT_DATABASE}")

    def make(*, ini: str = INI_ASYNCIO_AUTO, pyproject: str | None = None) -> Project:
        pytester.mkpydir("app")
        for name, source in (("models", MODELS), ("db", DB), ("main", MAIN)):
            (pytester.path / "app" / f"{name}.py").write_text(source.lstrip())
        text = pyproject if pyproject is not None else PYPROJECT.format(ini=ini.strip())
        (pytester.path / "pyproject.toml").write_text(text.lstrip())
        return Project(pytester, database_url)

    return make

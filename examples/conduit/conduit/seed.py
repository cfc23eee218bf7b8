"""Fill a migrated database with a realistic, reproducible data set, fast.

Every table is written with asqla's ``bulk_insert`` in one unit of work:
binary ``COPY`` on PostgreSQL, packet-sized multi-row ``INSERT`` on
MariaDB/MySQL, ``executemany`` on SQLite. Users and articles get their
UUIDv7 ids in Python, so the rows that point at them (follows, tags,
favorites, comments) are written without reading a key back.

Run it from ``examples/conduit``, after ``asqla migrations upgrade``::

    python -m conduit.seed                   # the demo's data set
    python -m conduit.seed --users 50 --articles 500 --tags 30 --comments 5000

Every seeded user's password is ``password``; their emails are
``<username>@conduit.example``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, exists, select

from asqla import AsyncSession, Database
from asqla.model import uuid7
from asqla.repository import bulk_insert

from .models import Article, Comment, Favorite, Follow, Tag, User, article_tags
from .repositories.articles import slugs
from .security import Passwords
from .settings import ConduitSettings

__all__ = ["DEMO", "SeedPlan", "is_seeded", "seed"]

PASSWORD = "password"

Report = Callable[[str, int], None]
"""Called as ``report(table, rows_written_so_far)`` while a table is written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedPlan:
    """How much to make. Favorites and follows are per user, tags per article (at most)."""

    users: int = 500
    articles: int = 5_000
    tags: int = 36
    comments: int = 20_000
    follows_per_user: int = 10
    favorites_per_user: int = 20
    tags_per_article: int = 4
    random_seed: int = 2024

    def rows(self) -> dict[str, int]:
        """How many rows each table gets (article_tags: about, the tags are drawn)."""
        return {
            "users": self.users,
            "tags": self.tags,
            "follows": self.users * min(self.follows_per_user, self.users - 1),
            "articles": self.articles,
            "article_tags": self.articles * (min(self.tags_per_article, self.tags) + 1) // 2,
            "favorites": self.users * min(self.favorites_per_user, self.articles),
            "comments": self.comments,
        }


DEMO = SeedPlan()


async def is_seeded(db: Database) -> bool:
    """Whether the database already has users."""
    async with db.read_session() as session:
        return bool(await session.scalar(select(exists().select_from(User))))


async def seed(
    db: Database, plan: SeedPlan, *, password_hash: str, report: Report | None = None
) -> dict[str, int]:
    """Write ``plan``'s data set in one transaction; return the rows written per table."""
    rng = random.Random(plan.random_seed)
    now = datetime.now(UTC).replace(microsecond=0)
    written: dict[str, int] = {}

    async def write(session: AsyncSession, target: type[Any] | Table, rows: Iterator[Any]) -> None:
        name = target.name if isinstance(target, Table) else target.__tablename__
        progress = (lambda count: report(name, count)) if report else None
        written[name] = await bulk_insert(session, target, rows, progress=progress)

    async with db.session() as session:
        users = [_user(rng, number, password_hash) for number in range(plan.users)]
        await write(session, User, iter(users))
        await write(session, Tag, ({"name": name} for name in _tag_names(plan.tags)))
        tag_ids = list((await session.scalars(select(Tag.id).order_by(Tag.id))).all())
        user_ids = [user["id"] for user in users]
        await write(session, Follow, _follows(rng, user_ids, plan.follows_per_user))
        articles = [_article(rng, number, user_ids, now) for number in range(plan.articles)]
        await write(session, Article, iter(articles))
        await write(session, article_tags, _article_tags(rng, articles, tag_ids, plan))
        article_ids = [article["id"] for article in articles]
        await write(session, Favorite, _favorites(rng, user_ids, article_ids, plan))
        await write(session, Comment, _comments(rng, articles, user_ids, plan.comments, now))
    return written


_FIRST = (
    "ada", "grace", "alan", "barbara", "edsger", "donald", "margaret", "ken", "dennis",
    "linus", "guido", "bjarne", "niklaus", "frances", "john", "radia", "katherine", "tim",
    "vint", "hedy", "annie", "sophie", "carl", "mary", "james", "anita",
)  # fmt: skip
_WORDS = (
    "async", "session", "query", "index", "table", "commit", "rollback", "transaction",
    "replica", "pool", "cursor", "schema", "migration", "column", "constraint", "foreign",
    "unique", "primary", "join", "select", "insert", "update", "delete", "stream", "batch",
    "page", "keyset", "offset", "filter", "sort", "upsert", "savepoint", "isolation",
    "deadlock", "latency", "throughput", "benchmark", "model", "mixin", "repository",
    "dependency", "request", "response", "middleware", "lifespan", "engine", "driver",
    "dialect", "postgres", "mariadb", "sqlite", "python",
)  # fmt: skip
_TOPICS = (
    "python", "databases", "sql", "fastapi", "asyncio", "postgresql", "mariadb", "sqlite",
    "performance", "testing", "migrations", "design", "api", "security", "devops", "cloud",
    "data", "web", "rust", "golang", "javascript", "architecture", "observability",
    "caching", "search", "queues", "scaling", "indexing", "tutorials", "career",
    "opensource", "tooling", "linux", "networking", "concurrency", "typing", "packaging",
    "documentation",
)  # fmt: skip


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(_WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def _user(rng: random.Random, number: int, password_hash: str) -> dict[str, Any]:
    username = f"{rng.choice(_FIRST)}{number}"
    return {
        "id": uuid7(),
        "username": username,
        "email": f"{username}@conduit.example",
        "password_hash": password_hash,
        "bio": _sentence(rng, 4, 12),
        "image": "",
    }


def _tag_names(count: int) -> Iterator[str]:
    for number in range(count):
        topic = _TOPICS[number % len(_TOPICS)]
        yield topic if number < len(_TOPICS) else f"{topic}-{number // len(_TOPICS)}"


def _article(rng: random.Random, number: int, user_ids: list[Any], now: datetime) -> dict[str, Any]:
    title = _sentence(rng, 3, 8).rstrip(".")
    created = now - timedelta(seconds=rng.randint(0, 365 * 24 * 3600))
    paragraphs = (_sentence(rng, 20, 60) for _ in range(rng.randint(2, 6)))
    return {
        "id": uuid7(),
        # The number keeps slugs unique without asking the database.
        "slug": f"{next(slugs(title))}-{number}",
        "title": title,
        "description": _sentence(rng, 6, 16),
        "body": "\n\n".join(paragraphs),
        "author_id": rng.choice(user_ids),
        "created_at": created,
        "updated_at": created,
    }


def _follows(rng: random.Random, user_ids: list[Any], per_user: int) -> Iterator[dict[str, Any]]:
    for follower in user_ids:
        others = [user for user in user_ids if user != follower]
        for followee in rng.sample(others, min(per_user, len(others))):
            yield {"follower_id": follower, "followee_id": followee}


def _article_tags(
    rng: random.Random, articles: list[dict[str, Any]], tag_ids: list[int], plan: SeedPlan
) -> Iterator[dict[str, Any]]:
    most = min(plan.tags_per_article, len(tag_ids))
    for article in articles:
        for tag_id in rng.sample(tag_ids, rng.randint(1, most) if most else 0):
            yield {"article_id": article["id"], "tag_id": tag_id}


def _favorites(
    rng: random.Random, user_ids: list[Any], article_ids: list[Any], plan: SeedPlan
) -> Iterator[dict[str, Any]]:
    for user_id in user_ids:
        for article_id in rng.sample(article_ids, min(plan.favorites_per_user, len(article_ids))):
            yield {"article_id": article_id, "user_id": user_id}


def _comments(
    rng: random.Random,
    articles: list[dict[str, Any]],
    user_ids: list[Any],
    count: int,
    now: datetime,
) -> Iterator[dict[str, Any]]:
    for _ in range(count if articles else 0):
        article = rng.choice(articles)
        age = (now - article["created_at"]).total_seconds()
        created = article["created_at"] + timedelta(seconds=rng.uniform(0, age))
        yield {
            "body": _sentence(rng, 5, 30),
            "article_id": article["id"],
            "author_id": rng.choice(user_ids),
            "created_at": created,
            "updated_at": created,
        }


def main(argv: list[str] | None = None) -> None:
    """Seed the database of ``DATABASE_URL`` unless it has users already."""
    parser = argparse.ArgumentParser(
        prog="python -m conduit.seed", description="Seed the Conduit database for a demo."
    )
    for field in dataclasses.fields(SeedPlan):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=int, default=getattr(DEMO, field.name))
    parser.add_argument("--force", action="store_true", help="seed even if there are users")
    options = vars(parser.parse_args(argv))
    force = options.pop("force")
    plan = SeedPlan(**options)
    asyncio.run(_seed_with_progress(ConduitSettings(), plan, force=force))


async def _seed_with_progress(settings: ConduitSettings, plan: SeedPlan, *, force: bool) -> None:
    console = Console()
    db = Database(settings.database)
    try:
        if not force and await is_seeded(db):
            console.print(
                f"[bold]{settings.database.display_url}[/] has users already: not seeding. "
                "Delete the database (or pass --force) to seed it again."
            )
            return
        password_hash = await Passwords(settings.password_profile).hash(PASSWORD)
        columns = (
            TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(),
        )  # fmt: skip
        with Progress(*columns, console=console) as progress:
            tasks = {
                table: progress.add_task(table, total=rows) for table, rows in plan.rows().items()
            }

            def report(table: str, count: int) -> None:
                progress.update(tasks[table], completed=count)

            written = await seed(db, plan, password_hash=password_hash, report=report)
            for table, count in written.items():
                progress.update(tasks[table], completed=count, total=count)
        total = sum(written.values())
        console.print(
            f"Seeded {total:,} rows into {settings.database.display_url}. "
            f"Log in as any user, e.g. [bold]{_first_email(plan)}[/], password "
            f"[bold]{PASSWORD}[/]."
        )
    finally:
        await db.dispose()


def _first_email(plan: SeedPlan) -> str:
    return str(_user(random.Random(plan.random_seed), 0, "")["email"])


if __name__ == "__main__":
    main()

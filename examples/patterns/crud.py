"""Create, read, update and delete through a `Repository` that never commits.

Run: python examples/patterns/crud.py (DATABASE_URL picks the database; default SQLite).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from asqla import Database, NotFoundError
from asqla.model import Base, BigIntPrimaryKey, SoftDelete, Timestamps
from asqla.repository import Repository


class Author(BigIntPrimaryKey, Timestamps, SoftDelete, Base):
    __tablename__ = "pattern_crud_author"

    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class AuthorRepository(Repository[Author]):
    pass


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        # One unit of work: the repository flushes, the `async with` commits.
        async with db.session() as session:
            authors = AuthorRepository(session)
            ada = await authors.create({"email": "ada@example.com", "name": "Ada"})
            await authors.create({"email": "grace@example.com", "name": "Grace"})
            print(f"created: {ada.name} (id {ada.id})")

        async with db.session() as session:
            authors = AuthorRepository(session)
            # By primary key: one UPDATE, the row comes back with its new values.
            ada = await authors.update(ada.id, {"name": "Ada Lovelace"})
            print(f"updated: {ada.name}")
            # Upsert: atomic on every backend, never a read then a write.
            grace = await authors.upsert(
                {"email": "grace@example.com", "name": "Grace Hopper"}, conflict=["email"]
            )
            print(f"upserted: {grace.name}")
            # get_or_create is race-safe: the INSERT runs in a savepoint.
            _, created = await authors.get_or_create({"name": "Alan"}, email="alan@example.com")
            print(f"get_or_create made a row: {created}")

        async with db.session() as session:
            authors = AuthorRepository(session)
            await authors.delete(ada.id)  # soft: Author has SoftDelete
            try:
                await authors.get(ada.id)
            except NotFoundError:
                print("deleted: reads no longer see it")
            names = [author.name for author in await authors.list(sort=[Author.name.asc()])]
            print(f"live: {', '.join(names)}")
            everyone = await AuthorRepository(session, include_deleted=True).list()
            print(f"rows including soft-deleted: {len(everyone)}")
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

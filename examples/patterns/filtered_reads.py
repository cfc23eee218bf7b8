"""Filtered and ordered reads from untrusted input, checked against a `FilterSpec`.

Run: python examples/patterns/filtered_reads.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asqla import Database, FilterError
from asqla.model import Base, BigIntPrimaryKey
from asqla.repository import FilterSpec, ReadRepository


class Author(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_filter_author"

    name: Mapped[str] = mapped_column(String(100))


class Book(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_filter_book"

    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey(Author.id))
    author: Mapped[Author] = relationship()


class BookReader(ReadRepository[Book]):
    # The allow-list: anything else in a request is refused before it reaches SQL.
    filters = FilterSpec(
        {"author.name": ["eq"]},  # a relationship path: an EXISTS subquery
        title=["contains"],
        year=["ge", "lt", "in"],
    )
    sortable = ("year", "title")


BOOKS = [
    ("Ursula K. Le Guin", "A Wizard of Earthsea", 1968),
    ("Ursula K. Le Guin", "The Left Hand of Darkness", 1969),
    ("Ursula K. Le Guin", "The Dispossessed", 1974),
    ("Frank Herbert", "Dune", 1965),
    ("Frank Herbert", "Dune Messiah", 1969),
]


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        async with db.session() as session:
            authors: dict[str, Author] = {}
            for name, title, year in BOOKS:
                author = authors.setdefault(name, Author(name=name))
                session.add(Book(title=title, year=year, author=author))

        # What a query string would carry: every value is still text.
        params = {"author.name": "Ursula K. Le Guin", "year__ge": "1969"}
        async with db.read_session() as session:
            books = BookReader(session)
            found = await books.list(
                BookReader.parse_filters(params), sort=BookReader.parse_sort("-year,title")
            )
            print("Le Guin since 1969:", "; ".join(f"{b.year} {b.title}" for b in found))

            found = await books.list(BookReader.parse_filters({"title__contains": "Dune"}))
            print("title contains 'Dune':", "; ".join(b.title for b in found))

            # Undeclared fields, operators and sort keys raise FilterError
            # (a 400 under FastAPI) that lists what is allowed.
            for bad in ({"author_id": "1"}, {"title__startswith": "D"}):
                try:
                    BookReader.parse_filters(bad)
                except FilterError as exc:
                    print("refused:", exc)
            try:
                BookReader.parse_sort("author_id; DROP TABLE pattern_filter_book")
            except FilterError as exc:
                print("refused:", exc)
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

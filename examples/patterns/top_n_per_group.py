"""Top N per group with a window function: row_number() OVER (PARTITION BY ... ORDER BY ...).

Run: python examples/patterns/top_n_per_group.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from asqla import Database
from asqla.model import Base, BigIntPrimaryKey


class Product(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_topn_product"

    category: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    sales: Mapped[int]


PRODUCTS = [
    ("books", "Dune", 90), ("books", "Emma", 40), ("books", "Ulysses", 70),
    ("games", "Chess", 50), ("games", "Go", 80), ("games", "Tetris", 95), ("games", "Pong", 10),
]  # fmt: skip


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        async with db.session() as session:
            session.add_all(Product(category=c, name=n, sales=s) for c, n, s in PRODUCTS)

        # The rank restarts at 1 in each category. A window function cannot
        # appear in WHERE, so rank in a subquery and filter outside it.
        # The id breaks ties, so that the top N is the same on every run.
        rank = (
            func.row_number()
            .over(partition_by=Product.category, order_by=(Product.sales.desc(), Product.id))
            .label("rank")
        )
        ranked = select(Product.category, Product.name, Product.sales, rank).subquery()
        statement = (
            select(ranked.c.category, ranked.c.rank, ranked.c.name, ranked.c.sales)
            .where(ranked.c.rank <= 2)
            .order_by(ranked.c.category, ranked.c.rank)
        )
        async with db.read_session() as session:
            for category, position, name, sales in await session.execute(statement):
                print(f"{category} #{position}: {name} ({sales})")
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

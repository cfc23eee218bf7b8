"""Aggregate per group, and keep only the groups that pass a test: GROUP BY ... HAVING.

Run: python examples/patterns/aggregation_having.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from asqla import Database
from asqla.model import Base, BigIntPrimaryKey


class Customer(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_agg_customer"

    name: Mapped[str] = mapped_column(String(100))


class Order(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_agg_order"

    customer_id: Mapped[int] = mapped_column(ForeignKey(Customer.id))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))


ORDERS = {"Ada": ["120.00", "80.50"], "Grace": ["15.00"], "Alan": ["60.00", "45.25", "9.75"]}


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        async with db.session() as session:
            for name, amounts in ORDERS.items():
                customer = Customer(name=name)
                session.add(customer)
                await session.flush()  # the customer's id, for its orders
                session.add_all(Order(customer_id=customer.id, amount=Decimal(a)) for a in amounts)

        total = func.sum(Order.amount).label("total")
        orders = func.count(Order.id).label("orders")
        statement = (
            select(Customer.name, orders, total)
            .join(Order, Order.customer_id == Customer.id)
            .group_by(Customer.id, Customer.name)
            # WHERE filters rows before grouping; HAVING filters the groups.
            .having(func.sum(Order.amount) >= 100)
            .order_by(total.desc())
        )
        async with db.read_session() as session:
            for name, count, amount in await session.execute(statement):
                print(f"{name}: {count} orders, {Decimal(amount):.2f}")
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

"""A correlated subquery: compare each row with an aggregate over its own group.

Run: python examples/patterns/correlated_subquery.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, aliased, mapped_column

from asqla import Database
from asqla.model import Base, BigIntPrimaryKey


class Employee(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_corr_employee"

    name: Mapped[str] = mapped_column(String(100))
    department: Mapped[str] = mapped_column(String(50))
    salary: Mapped[int]


STAFF = [
    ("Ada", "research", 130), ("Alan", "research", 110), ("Grace", "research", 90),
    ("Edsger", "systems", 100), ("Barbara", "systems", 120),
]  # fmt: skip


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        async with db.session() as session:
            session.add_all(Employee(name=n, department=d, salary=s) for n, d, s in STAFF)

        # The inner query reads a second copy of the table and refers to the
        # outer row's department: it is evaluated per outer row.
        colleague = aliased(Employee)
        department_average = (
            select(func.avg(colleague.salary))
            .where(colleague.department == Employee.department)
            .scalar_subquery()
        )
        statement = (
            select(Employee.name, Employee.department)
            .where(Employee.salary > department_average)
            .order_by(Employee.department, Employee.name)
        )
        async with db.read_session() as session:
            for name, department in await session.execute(statement):
                print(f"{name} earns more than the {department} average")
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

"""Concurrent money transfers: a savepoint for idempotency, retries for lost races.

Run: python examples/patterns/money_transfer.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from asqla import Database, UniqueViolationError
from asqla.model import Base, BigIntPrimaryKey
from asqla.transactions import RetryEvent, RetryPolicy, retry_on_conflict, savepoint


class Account(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_transfer_account"

    owner: Mapped[str] = mapped_column(String(100))
    balance: Mapped[int]


class Transfer(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_transfer_transfer"

    # The client's idempotency key: a retried HTTP request must not pay twice.
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey(Account.id))
    destination_id: Mapped[int] = mapped_column(ForeignKey(Account.id))
    amount: Mapped[int]


retries: list[RetryEvent] = []
policy = RetryPolicy(attempts=10, on_retry=retries.append)


@retry_on_conflict(policy)
async def transfer(
    db: Database, request_id: str, source: int, destination: int, amount: int
) -> bool:
    """Move ``amount``; return False when ``request_id`` was already applied."""
    # The whole unit of work is inside the retried function: a deadlock or a
    # serialization failure rolls all of it back, so all of it runs again.
    async with db.transaction(isolation_level="SERIALIZABLE") as session:
        # Lock both accounts first, in one order (by id), so that two transfers
        # touching the same accounts queue up instead of deadlocking. Taken
        # after the INSERT below, the locks would deadlock: its foreign keys
        # already hold shared locks on the accounts (FOR KEY SHARE on PostgreSQL).
        rows = await session.scalars(
            select(Account)
            .where(Account.id.in_([source, destination]))
            .order_by(Account.id)
            .with_for_update()
        )
        accounts = {account.id: account for account in rows}
        # Record the request in a savepoint: on a duplicate key only
        # this INSERT is undone and the transaction carries on.
        async with savepoint(session, suppress=(UniqueViolationError,)) as recorded:
            session.add(
                Transfer(
                    request_id=request_id,
                    source_id=source,
                    destination_id=destination,
                    amount=amount,
                )
            )
        if recorded.rolled_back:
            return False
        accounts[source].balance -= amount
        accounts[destination].balance += amount
        return True


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        async with db.session() as session:
            owners = ["ada", "grace", "alan", "edsger", "barbara"]
            session.add_all(Account(owner=owner, balance=100) for owner in owners)
        async with db.session() as session:
            ids = list(await session.scalars(select(Account.id).order_by(Account.id)))

        # 20 transfers at once, around the ring of accounts and back again.
        moves = [(f"request-{n}", ids[n % 5], ids[(n + 1 + n // 5) % 5], 10 + n) for n in range(20)]
        done = await asyncio.gather(*(transfer(db, *move) for move in moves))
        print(f"transfers applied: {sum(done)} of {len(moves)}")

        # The client retries request-0 (its response was lost): nothing moves.
        again = await transfer(db, *moves[0])
        print(f"request-0 sent again, applied: {again}")

        async with db.read_session() as session:
            total = await session.scalar(select(func.sum(Account.balance)))
            count = await session.scalar(select(func.count()).select_from(Transfer))
        print(f"transfers recorded: {count}")
        print(f"total balance: {total}")
        # How many reruns this took depends on timing (always 0 on SQLite,
        # which runs one write transaction at a time).
        print(f"retries needed: {len(retries)}", flush=True)
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

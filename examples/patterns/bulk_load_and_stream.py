"""Load many rows at the driver's speed, then read them back with flat memory.

Run: python examples/patterns/bulk_load_and_stream.py (DATABASE_URL picks the database).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from asqla import Database
from asqla.model import Base, BigIntPrimaryKey
from asqla.repository import bulk_insert, stream

ROWS = 20_000


class Reading(BigIntPrimaryKey, Base):
    __tablename__ = "pattern_bulk_reading"

    sensor: Mapped[str] = mapped_column(String(20))
    value: Mapped[int]


def readings() -> Iterator[dict[str, Any]]:
    # A generator: bulk_insert reads it as it goes, so it never sits in memory whole.
    for n in range(ROWS):
        yield {"sensor": f"sensor-{n % 10}", "value": n % 100}


async def main(url: str) -> None:
    db = Database(url)
    await db.create_all(Base.metadata)
    try:
        batches: list[int] = []
        async with db.session() as session:
            # COPY on PostgreSQL, packet-sized multi-row INSERTs on MariaDB/MySQL,
            # executemany on SQLite; all-or-nothing, committed by the unit of work.
            loaded = await bulk_insert(
                session, Reading, readings(), batch_size=5_000, progress=batches.append
            )
        print(f"loaded {loaded} rows in {len(batches)} batches")

        # stream() needs a transaction on PostgreSQL (a server-side cursor
        # lives in one): db.session(), or db.read_session(snapshot=True).
        count = total = 0
        async with db.read_session(snapshot=True) as session:
            statement = select(Reading).where(Reading.sensor == "sensor-3")
            async with stream(session, statement, batch_size=1_000) as rows:
                async for reading in rows:
                    count += 1
                    total += reading.value
        print(f"streamed {count} readings of sensor-3, values summing to {total}")
    finally:
        await db.drop_all(Base.metadata)
        await db.dispose()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/patterns.db"
    asyncio.run(main(os.environ.get("DATABASE_URL") or default))

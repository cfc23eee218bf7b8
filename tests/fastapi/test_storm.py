"""The storm: many concurrent requests on a small pool, half of them cancelled mid-flight.

``httpx.ASGITransport`` runs the app in the task that sends the request, so
cancelling a client task cancels the request wherever it is: waiting for a
pooled connection, inside the endpoint, inside COMMIT, or while the unit of
work releases its connection. Afterwards nothing may be left behind: no
checked-out connection, no open transaction on the server, and no request
saved in part.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import AsyncSession, Database
from asqla.fastapi import ReadSession, Session
from asqla.fastapi._unit_of_work import RequestUnitOfWork

MakeApp = Callable[..., FastAPI]
MakeClient = Callable[..., httpx.AsyncClient]
MakeDatabase = Callable[..., Database]

WRITES = 200  # POSTs, each saving 3 rows through Session
READS = 40  # GETs through ReadSession, which holds its connection to the end
ROWS_PER_REQUEST = 3
# Where a cancelled request is cut off; each stage has a pause as its window.
WRITE_STAGES = ("anywhere", "endpoint", "commit")
READ_STAGES = ("anywhere", "release")
STAGES = (*WRITE_STAGES, *READ_STAGES)
ENDPOINT_PAUSE = 0.010
COMMIT_PAUSE = 0.004
RELEASE_PAUSE = 0.004
# The storm takes about a second; requests still waiting after this are stuck
# behind leaked connections (the pool's timeout is longer, 30 s).
STORM_TIMEOUT = 20


class Base(DeclarativeBase):
    pass


class StormRow(Base):
    __tablename__ = "storm_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    request: Mapped[int] = mapped_column(index=True)
    position: Mapped[int] = mapped_column()


class Stages:
    """An event per (request, stage), set when the request reaches that stage."""

    # Set in the client task; cleanup tasks that the request spawns (to shield
    # a rollback, say) inherit it with the context.
    request: contextvars.ContextVar[int] = contextvars.ContextVar("request")

    def __init__(self) -> None:
        self._events: dict[tuple[int, str], asyncio.Event] = {}

    def event(self, number: int, stage: str) -> asyncio.Event:
        return self._events.setdefault((number, stage), asyncio.Event())

    def reached(self, stage: str) -> None:
        number = self.request.get(None)
        if number is not None:
            self.event(number, stage).set()

    def finished(self, number: int) -> None:
        for stage in STAGES:
            self.event(number, stage).set()  # a canceller still waiting gives up


def slow_down_the_unit_of_work(monkeypatch: pytest.MonkeyPatch, stages: Stages) -> None:
    """Give COMMIT and the connection's release a window in which to be cancelled.

    The pauses stand in for the network round trips of COMMIT and of the
    ROLLBACK that returns a connection to the pool; they widen the windows
    that a real storm hits by chance.
    """
    commit = RequestUnitOfWork.commit
    close = AsyncSession.close

    async def slow_commit(self: RequestUnitOfWork) -> None:
        stages.reached("commit")
        await asyncio.sleep(COMMIT_PAUSE)  # cancelled here: nothing saved
        await commit(self)
        await asyncio.sleep(COMMIT_PAUSE)  # cancelled here: saved, the client never hears

    async def slow_close(self: AsyncSession) -> None:
        stages.reached("release")
        await asyncio.sleep(RELEASE_PAUSE)
        await close(self)

    monkeypatch.setattr(RequestUnitOfWork, "commit", slow_commit)
    monkeypatch.setattr(AsyncSession, "close", slow_close)


async def open_transactions(db: Database) -> int:
    """Count the server sessions on this test's database that sit inside a transaction."""
    backend = db.engine.dialect.name
    if backend == "postgresql":
        query = (
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'"
        )
    elif backend == "mysql":
        query = (
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
            "WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID()"
        )
    else:
        return 0  # SQLite has no server; the file's lock is checked by the writes below
    async with db.engine.connect() as connection:
        return int((await connection.exec_driver_sql(query)).scalar_one())


async def end_other_server_sessions(db: Database) -> None:
    """Close every other server connection to this test's database."""
    backend = db.engine.dialect.name
    admin = Database(db.settings)  # its own pool: db's may be exhausted
    async with admin.engine.connect() as connection:
        if backend == "postgresql":
            await connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        elif backend == "mysql":
            ids = await connection.exec_driver_sql(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
            )
            for (connection_id,) in ids.all():
                await connection.exec_driver_sql(f"KILL {int(connection_id)}")
    await admin.dispose()


async def settled(probe: Callable[[], Awaitable[int]], *, within: float = 5.0) -> int:
    """Return ``probe()`` once it reaches 0, or its last value after ``within`` seconds.

    A connection closed by the client leaves its server session for a moment
    while the server notices; one left open by a leak stays forever.
    """
    deadline = time.monotonic() + within
    while (value := await probe()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


@pytest.mark.parametrize("seed", [4321])
async def test_storm_of_cancelled_requests_leaves_nothing_behind(
    seed: int,
    make_db: MakeDatabase,
    make_app: MakeApp,
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = make_db(pool_size=5, max_overflow=0, pool_timeout=30)
    await db.create_all(Base.metadata)
    stages = Stages()
    slow_down_the_unit_of_work(monkeypatch, stages)
    app = make_app(db)

    @app.post("/batches/{number}", status_code=201)
    async def create_batch(number: int, session: Session, pause: float) -> dict[str, int]:
        session.add_all(StormRow(request=number, position=p) for p in range(ROWS_PER_REQUEST))
        await session.flush()
        stages.reached("endpoint")
        await asyncio.sleep(pause)
        return {"request": number}

    @app.get("/batches/{number}")
    async def read_batch(number: int, session: ReadSession, pause: float) -> int:
        rows = await session.scalar(select(func.count()).where(StormRow.request == number))
        await asyncio.sleep(pause)
        return int(rows or 0)

    client = make_client(app)
    rng = random.Random(seed)
    writes, reads = range(WRITES), range(WRITES, WRITES + READS)
    cancelled = {*rng.sample(writes, WRITES // 2), *rng.sample(reads, READS // 2)}
    plans = {
        number: (rng.choice(WRITE_STAGES if number in writes else READ_STAGES), rng.random())
        for number in sorted(cancelled)
    }
    pauses = {number: rng.uniform(0, ENDPOINT_PAUSE) for number in (*writes, *reads)}

    async def send(number: int) -> int:
        stages.request.set(number)
        params = {"pause": pauses[number]}
        if number in writes:
            response = await client.post(f"/batches/{number}", params=params)
        else:
            response = await client.get(f"/batches/{number - WRITES}", params=params)
        return response.status_code

    async def cancel(task: asyncio.Task[int], number: int) -> None:
        stage, fraction = plans[number]
        if stage == "anywhere":
            await asyncio.sleep(fraction * 0.5)
        else:
            await stages.event(number, stage).wait()
            window = {"endpoint": pauses[number], "commit": 2 * COMMIT_PAUSE}
            await asyncio.sleep(fraction * window.get(stage, RELEASE_PAUSE))
        task.cancel()

    tasks: dict[int, asyncio.Task[int]] = {}
    cancellers = []
    started = time.monotonic()
    for number in rng.sample([*writes, *reads], WRITES + READS):
        task = asyncio.create_task(send(number))
        task.add_done_callback(lambda _, number=number: stages.finished(number))
        tasks[number] = task
        if number in cancelled:
            cancellers.append(asyncio.create_task(cancel(task, number)))
    _, pending = await asyncio.wait([*tasks.values(), *cancellers], timeout=STORM_TIMEOUT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - started
    monkeypatch.undo()
    try:
        assert not pending, f"{len(pending)} requests still waiting: connections leaked?"

        statuses = {n: None if t.cancelled() else t.result() for n, t in tasks.items()}
        cut_off = Counter(plans[n][0] for n, status in statuses.items() if status is None)
        # The storm did what it says: every stage had requests cut off in it, and
        # every request that was left alone succeeded.
        assert set(cut_off) == set(STAGES), cut_off
        assert cut_off.total() >= len(cancelled) // 2, cut_off
        assert all(statuses[n] == 201 for n in writes if n not in cancelled)
        assert all(statuses[n] == 200 for n in reads if n not in cancelled)
        assert elapsed < STORM_TIMEOUT

        assert db.status().checked_out == 0
        assert await settled(lambda: open_transactions(db)) == 0
        async with db.session() as session:
            counts = select(StormRow.request, func.count()).group_by(StormRow.request)
            rows = {request: count for request, count in await session.execute(counts)}
            await session.execute(text("DELETE FROM storm_row"))  # no lock was left on the table
        assert set(rows.values()) <= {ROWS_PER_REQUEST}, "a request was saved in part"
        created = {n for n in writes if statuses[n] == 201}
        assert created <= set(rows), "a 201 was sent for rows that were not saved"
        assert db.status().checked_out == 0
    except BaseException:
        # A leaked connection may hold a transaction, and with it a lock that
        # would make dropping the test database wait forever (MariaDB).
        await end_other_server_sessions(db)
        raise

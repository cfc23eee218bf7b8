"""Retrying a whole transaction that lost a serialization race or a deadlock.

What is retried is decided from real driver exceptions; what happens under
contention is measured on real servers, where the test counts the retries so
that it cannot pass without any.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncmy.errors
import asyncpg.exceptions
import pytest
from sqlalchemy import ForeignKey, String, func, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from asqla import (
    CommitFailedError,
    ConfigurationError,
    Database,
    DatabaseError,
    DatabaseUnavailableError,
    SerializationFailureError,
    SessionUsageError,
    UniqueViolationError,
)
from asqla.transactions import (
    Backoff,
    RetryEvent,
    RetryPolicy,
    is_retryable,
    retry_on_conflict,
    retrying,
    savepoint,
)

MakeDatabase = Callable[..., Database]
RunAdmin = Callable[[str, str], Awaitable[None]]
FAST = Backoff(base=0.0, cap=0.0)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    balance: Mapped[int]


class Entry(Base):
    __tablename__ = "entry"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    memo: Mapped[str] = mapped_column(String(40), unique=True)


# --- what is retryable ------------------------------------------------------------------------


def wrapped(orig: Exception, statement: str = "UPDATE account SET balance = 0") -> Exception:
    """``orig`` as SQLAlchemy raises it: a DBAPIError with the driver's error as orig and cause."""
    error = sa_exc.DBAPIError.instance(statement, None, orig, Exception)
    error.__cause__ = orig
    return error


def raised(exc: BaseException, *, during: BaseException | None = None) -> BaseException:
    """Raise ``exc`` (while handling ``during``) and return it with its chain set by Python."""
    try:
        if during is None:
            raise exc
        try:
            raise during
        except BaseException:
            raise exc  # noqa: B904 - the implicit __context__ is what is under test
    except BaseException as caught:
        return caught


def translated(kind: type[Exception], orig: Exception) -> Exception:
    error = kind(str(orig))
    error.__cause__ = wrapped(orig)
    return error


PG_SERIALIZATION = asyncpg.exceptions.SerializationError("could not serialize access")
PG_DEADLOCK = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
PG_UNIQUE = asyncpg.exceptions.UniqueViolationError("duplicate key value")
PG_UNKNOWN = asyncpg.exceptions.TransactionResolutionUnknownError("unknown")
MY_DEADLOCK = asyncmy.errors.OperationalError(1213, "Deadlock found when trying to get lock")
MY_LOCK_WAIT = asyncmy.errors.OperationalError(1205, "Lock wait timeout exceeded")
MY_CHECKREAD = asyncmy.errors.OperationalError(1020, "Record has changed since last read")
MY_UNIQUE = asyncmy.errors.IntegrityError(1062, "Duplicate entry 'a' for key 'memo'")
MY_SAVEPOINT_GONE = asyncmy.errors.OperationalError(1305, "SAVEPOINT sa_savepoint_1 does not exist")
MY_LOST = asyncmy.errors.OperationalError(2013, "Lost connection to server during query")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(SerializationFailureError("lost"), True, id="asqla"),
        pytest.param(wrapped(PG_SERIALIZATION), True, id="pg-40001"),
        pytest.param(wrapped(PG_DEADLOCK), True, id="pg-40P01"),
        pytest.param(PG_DEADLOCK, True, id="pg-40P01-raw-driver-error"),
        pytest.param(wrapped(MY_DEADLOCK), True, id="mysql-1213"),
        pytest.param(wrapped(MY_LOCK_WAIT), True, id="mysql-1205"),
        pytest.param(wrapped(MY_CHECKREAD), True, id="mysql-1020"),
        pytest.param(translated(DatabaseError, MY_DEADLOCK), True, id="behind-asqla-error"),
        pytest.param(
            raised(CommitFailedError("COMMIT failed"), during=SerializationFailureError("lost")),
            True,
            id="commit-failed-by-a-conflict",
        ),
        pytest.param(
            raised(wrapped(MY_SAVEPOINT_GONE), during=translated(DatabaseError, MY_DEADLOCK)),
            True,
            id="mysql-1305-after-1213",
        ),
        pytest.param(wrapped(MY_SAVEPOINT_GONE), False, id="mysql-1305-alone"),
        pytest.param(wrapped(PG_UNIQUE), False, id="pg-unique"),
        pytest.param(wrapped(MY_UNIQUE), False, id="mysql-unique"),
        pytest.param(UniqueViolationError("taken"), False, id="asqla-unique"),
        pytest.param(KeyError(1213), False, id="not-a-database-error"),
        pytest.param(
            raised(DatabaseUnavailableError("lost"), during=SerializationFailureError("lost")),
            False,
            id="connection-lost-after-a-conflict",
        ),
        pytest.param(
            raised(CommitFailedError("COMMIT failed"), during=DatabaseUnavailableError("lost")),
            False,
            id="commit-outcome-unknown",
        ),
        pytest.param(
            raised(wrapped(MY_LOST, "COMMIT"), during=translated(DatabaseError, MY_DEADLOCK)),
            False,
            id="mysql-2013-after-1213",
        ),
        pytest.param(
            raised(wrapped(PG_UNKNOWN, "COMMIT"), during=wrapped(PG_SERIALIZATION)),
            False,
            id="pg-08007-after-40001",
        ),
    ],
)
def test_is_retryable(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


def test_a_chain_with_a_cycle_ends() -> None:
    first, second = SerializationFailureError("a"), DatabaseError("b")
    first.__context__, second.__context__ = second, first
    assert is_retryable(first)


# --- policy -----------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.05, cap=0.5, jitter=False)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    assert backoff.delay(10_000) == 0.5


def test_backoff_jitter_stays_under_the_exponential_value() -> None:
    backoff = Backoff(base=0.1, cap=1.0, jitter=True)
    delays = [backoff.delay(3) for _ in range(200)]
    assert all(0.0 <= d <= 0.4 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: Backoff(base=2.0, cap=1.0),
            r"Backoff\(base=2\.0, cap=1\.0\) is invalid: the delays need 0 <= base <= cap",
            id="base-above-cap",
        ),
        pytest.param(
            lambda: Backoff(base=-1.0),
            r"Backoff\(base=-1\.0, cap=1\.0\) is invalid",
            id="negative",
        ),
        pytest.param(
            lambda: RetryPolicy(attempts=0),
            r"RetryPolicy\(attempts=0\) must be at least 1",
            id="no-attempts",
        ),
        pytest.param(
            lambda: RetryPolicy(attempts=2.5),
            r"RetryPolicy\(attempts=2\.5\) must be a whole number of runs",
            id="fraction",
        ),
    ],
)
def test_bad_policy_is_a_configuration_error(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_retry_on_conflict_needs_a_coroutine_function() -> None:
    with pytest.raises(ConfigurationError, match=r"decorates coroutine functions \(async def\)"):
        retry_on_conflict(lambda: None)  # type: ignore[arg-type, return-value]


# --- the retry loop on a real database --------------------------------------------------------


async def seed(db: Database, balances: list[int]) -> None:
    await db.create_all(Base.metadata)
    async with db.session() as session:
        session.add_all(Account(id=i, balance=b) for i, b in enumerate(balances))


async def balances(db: Database) -> list[int]:
    async with db.session() as session:
        return list(await session.scalars(select(Account.balance).order_by(Account.id)))


async def test_gives_up_after_the_last_attempt(db: Database) -> None:
    await seed(db, [100])
    events: list[RetryEvent] = []
    runs = 0

    @retry_on_conflict(RetryPolicy(attempts=3, backoff=FAST, on_retry=events.append))
    async def always_loses() -> None:
        nonlocal runs
        runs += 1
        async with db.transaction() as session:
            (await session.get_one(Account, 0)).balance -= 1
            await session.flush()
            raise SerializationFailureError(f"lost race {runs}.")

    with pytest.raises(
        SerializationFailureError,
        match=r"^Gave up after 3 attempts: each one lost a serialization race or a deadlock; "
        r"the last failed with: lost race 3\. .*RetryPolicy\(attempts=\.\.\.\)",
    ) as caught:
        await always_loses()
    assert runs == 3
    assert [(e.attempt, e.attempts) for e in events] == [(1, 3), (2, 3)]
    assert str(caught.value.__cause__) == "lost race 3."
    assert not is_retryable(caught.value)  # an enclosing retry loop does not multiply attempts
    assert await balances(db) == [100]
    assert db.status().checked_out == 0


async def test_succeeds_on_a_later_attempt_and_awaits_the_hook(db: Database) -> None:
    await seed(db, [100])
    seen: list[int] = []

    async def on_retry(event: RetryEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.attempt)

    policy = RetryPolicy(attempts=5, backoff=FAST, on_retry=on_retry)
    async for attempt in retrying(policy):
        async with attempt, db.transaction() as session:
            (await session.get_one(Account, 0)).balance -= 10
            if attempt.number < 3:
                await session.flush()
                raise SerializationFailureError("lost")
    assert seen == [1, 2]
    assert await balances(db) == [90]


async def test_retry_on_conflict_bare_keeps_the_function(db: Database) -> None:
    await seed(db, [100])

    @retry_on_conflict
    async def withdraw(amount: int) -> int:
        """Take money out."""
        async with db.transaction() as session:
            account = await session.get_one(Account, 0)
            account.balance -= amount
            return account.balance

    assert (withdraw.__name__, withdraw.__doc__) == ("withdraw", "Take money out.")
    assert await withdraw(30) == 70


async def test_unique_violation_is_not_retried(db: Database) -> None:
    await seed(db, [100])
    events: list[RetryEvent] = []
    runs = 0

    @retry_on_conflict(RetryPolicy(attempts=5, backoff=FAST, on_retry=events.append))
    async def record(memo: str) -> None:
        nonlocal runs
        runs += 1
        async with db.transaction() as session:
            session.add(Entry(id=runs, account_id=0, memo=memo))

    await record("first")
    with pytest.raises(UniqueViolationError):
        await record("first")
    assert (runs, events) == (2, [])


async def test_an_attempt_must_be_entered(db: Database) -> None:
    with pytest.raises(SessionUsageError, match=r"<Attempt 1 of 5> was never entered"):
        async for _attempt in retrying():
            pass


async def test_a_transaction_opened_outside_the_attempt_is_not_retried(db: Database) -> None:
    """Rerunning half a transaction would commit the other half without it."""
    await seed(db, [100])
    events: list[RetryEvent] = []

    @retry_on_conflict(RetryPolicy(backoff=FAST, on_retry=events.append))
    async def debit(session: Any) -> None:
        (await session.get_one(Account, 0)).balance -= 1
        await session.flush()
        raise SerializationFailureError("lost")

    with pytest.raises(SessionUsageError, match=r"the transaction it broke was not opened and"):
        async with db.session() as request_session:
            await request_session.scalar(select(func.count()).select_from(Account))
            await debit(request_session)
    with pytest.raises(SessionUsageError, match=r"Open the transaction inside the retried"):
        async with db.session() as lazy_session:  # begins inside the attempt, ends outside
            await debit(lazy_session)
    assert events == []
    assert await balances(db) == [100]


@pytest.mark.backends("postgresql", "mysql")
async def test_commit_with_unknown_outcome_is_not_retried(
    db: Database, backend: str, run_admin: RunAdmin
) -> None:
    """The connection is killed just before COMMIT: the client cannot know what was saved."""
    await seed(db, [100])
    events: list[RetryEvent] = []
    runs = 0
    whoami, kill = {
        "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
        "mysql": ("SELECT CONNECTION_ID()", "KILL {}"),
    }[backend]

    @retry_on_conflict(RetryPolicy(attempts=5, backoff=FAST, on_retry=events.append))
    async def debit() -> None:
        nonlocal runs
        runs += 1
        async with db.transaction(isolation_level="SERIALIZABLE") as session:
            (await session.get_one(Account, 0)).balance -= 1
            await session.flush()
            await run_admin(backend, kill.format(await session.scalar(text(whoami))))

    with pytest.raises(DatabaseUnavailableError):
        await debit()
    assert (runs, events) == (1, [])
    assert await balances(db) == [100]


# --- under contention -------------------------------------------------------------------------

# PostgreSQL's SERIALIZABLE and MariaDB's default REPEATABLE READ (with locking
# reads); SQLite's transactions are serializable whatever the level.
TRANSFER_LEVEL = {"postgresql": "SERIALIZABLE", "mysql": "REPEATABLE READ", "sqlite": None}


def failure_code(error: BaseException) -> str:
    """The MySQL error numbers or SQLSTATEs down ``error``'s chain, joined by ``+``."""
    codes: list[str] = []
    link: BaseException | None = error
    while link is not None and len(codes) < 10:
        orig = getattr(link, "orig", None)
        if orig is not None:
            errno = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
            codes.append(str(errno or getattr(orig, "sqlstate", None)))
        link = link.__cause__ or link.__context__
    return "+".join(codes) or type(error).__name__


async def locked_pair(events: list[asyncio.Event], index: int) -> None:
    """Hold the first lock until the other transfer of the pair holds its own: a sure deadlock."""
    events[index].set()
    await events[1 - index].wait()


async def test_concurrent_transfers_complete_and_keep_the_total(db: Database, backend: str) -> None:
    """20 transfers between 5 accounts, locking source then destination in opposite orders."""
    opening = [1000] * 5
    await seed(db, opening)
    rng = random.Random(20)
    transfers = [(0, 1, 7), (1, 0, 5)]  # opened together: they deadlock on their second lock
    while len(transfers) < 20:
        source, destination = rng.sample(range(5), 2)
        transfers.append((source, destination, rng.randint(1, 50)))
    retries: Counter[str] = Counter()
    policy = RetryPolicy(
        attempts=50,
        backoff=Backoff(base=0.01, cap=0.25),
        on_retry=lambda event: retries.update([failure_code(event.error).split("+")[0]]),
    )
    servers = backend != "sqlite"  # SQLite's BEGIN IMMEDIATE lets one writer in at a time
    first_locks = [asyncio.Event(), asyncio.Event()]

    @retry_on_conflict(policy)
    async def transfer(index: int, source: int, destination: int, amount: int) -> None:
        async with db.transaction(isolation_level=TRANSFER_LEVEL[backend]) as session:
            debit = await session.get_one(Account, source, with_for_update=True)
            if servers and index < 2 and not first_locks[index].is_set():
                await locked_pair(first_locks, index)
            else:
                await asyncio.sleep(rng.random() * 0.02)
            credit = await session.get_one(Account, destination, with_for_update=True)
            debit.balance -= amount
            credit.balance += amount

    async with asyncio.timeout(120):  # a hang fails the test instead of the run
        pair = [asyncio.create_task(transfer(i, *transfers[i])) for i in range(2)]
        if servers:
            await asyncio.wait([asyncio.create_task(e.wait()) for e in first_locks])
        rest = [asyncio.create_task(transfer(i, *t)) for i, t in enumerate(transfers) if i >= 2]
        await asyncio.gather(*pair, *rest)

    expected = list(opening)
    for source, destination, amount in transfers:
        expected[source] -= amount
        expected[destination] += amount
    assert await balances(db) == expected
    assert sum(expected) == sum(opening)
    print(f"{backend}: {sum(retries.values())} retries by cause: {dict(retries)}")
    if servers:
        assert retries, "no transfer was retried: the test proved nothing"
    else:
        assert not retries
    assert db.status().checked_out == 0


@pytest.mark.backends("postgresql", "mysql")
@pytest.mark.parametrize("nesting", ["savepoint", "begin_nested"])
async def test_deadlock_inside_a_savepoint_reruns_the_whole_transaction(
    db: Database, backend: str, nesting: str
) -> None:
    """On MariaDB the deadlock (1213) has rolled the savepoint back: ROLLBACK TO fails (1305)."""
    await seed(db, [100, 100])
    retried: list[RetryEvent] = []
    policy = RetryPolicy(attempts=5, backoff=FAST, on_retry=retried.append)
    first_locks = [asyncio.Event(), asyncio.Event()]

    async def transfer(index: int) -> None:
        source, destination = index, 1 - index
        async for attempt in retrying(policy):
            async with attempt, db.transaction(isolation_level="REPEATABLE READ") as session:
                debit = await session.get_one(Account, source, with_for_update=True)
                debit.balance -= 10
                nested = savepoint(session) if nesting == "savepoint" else session.begin_nested()
                async with nested:
                    if attempt.number == 1:
                        await locked_pair(first_locks, index)
                    credit = await session.get_one(Account, destination, with_for_update=True)
                    credit.balance += 10

    async with asyncio.timeout(60):
        await asyncio.gather(transfer(0), transfer(1))
    assert await balances(db) == [100, 100]
    # The victim's rerun may lose again on PostgreSQL (40001) while the winner commits.
    assert retried, "the deadlock was not retried"
    codes = failure_code(retried[0].error)
    if backend == "mysql" and nesting == "begin_nested":
        assert codes.startswith("1305+") and "1213" in codes
    else:
        assert codes.split("+")[0] in ("1213", "40P01")


@pytest.mark.backends("mysql")
async def test_mariadb_snapshot_isolation_conflict_is_retried(db: Database) -> None:
    """MariaDB's innodb_snapshot_isolation turns a lost update into error 1020."""
    await seed(db, [100])
    retried: list[RetryEvent] = []
    async for attempt in retrying(RetryPolicy(backoff=FAST, on_retry=retried.append)):
        async with attempt, db.transaction(isolation_level="REPEATABLE READ") as session:
            try:
                await session.execute(text("SET SESSION innodb_snapshot_isolation = ON"))
            except DatabaseError:
                pytest.skip("the server has no innodb_snapshot_isolation (MariaDB >= 10.6.18)")
            balance = await session.scalar(select(Account.balance).where(Account.id == 0))
            if attempt.number == 1:
                async with db.session() as other:  # commits after our snapshot was taken
                    (await other.get_one(Account, 0)).balance += 1
            await session.execute(
                update(Account).where(Account.id == 0).values(balance=balance - 10)
            )
    assert await balances(db) == [91]  # not 90: the concurrent +1 is not lost
    assert [failure_code(event.error) for event in retried] == ["1020"]


@pytest.mark.backends("mysql")
async def test_lock_wait_timeout_reruns_the_whole_transaction(db: Database) -> None:
    """InnoDB undoes only the timed-out statement (1205); the retry starts from scratch."""
    await seed(db, [100, 100])
    holding, released = asyncio.Event(), asyncio.Event()

    async def hold_account_0() -> None:
        async with db.session() as session:
            await session.get_one(Account, 0, with_for_update=True)
            holding.set()
            await released.wait()

    retried: list[RetryEvent] = []

    def on_retry(event: RetryEvent) -> None:
        retried.append(event)
        released.set()

    holder = asyncio.create_task(hold_account_0())
    await holding.wait()
    async for attempt in retrying(RetryPolicy(backoff=FAST, on_retry=on_retry)):
        async with attempt, db.transaction() as session:
            await session.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            (await session.get_one(Account, 1)).balance += 5
            await session.flush()  # kept by InnoDB after the timeout, undone by the retry
            (await session.get_one(Account, 0, with_for_update=True)).balance -= 5
    await holder
    assert await balances(db) == [95, 105]
    assert [failure_code(event.error) for event in retried] == ["1205"]

"""``UUIDPrimaryKey``: a time-ordered UUIDv7 primary key, and ``uuid7()``."""

from __future__ import annotations

import secrets
import threading
import uuid
from time import time_ns

from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["UUIDPrimaryKey", "uuid7"]

# RFC 9562, section 5.7: 48 bits of Unix milliseconds, 4 version bits,
# 12 bits rand_a, 2 variant bits, 62 bits rand_b. The 74 random bits are
# handled as one counter here (section 6.2, method 2, "Monotonic Random").
_RANDOM_BITS = 74
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7 (RFC 9562): time-ordered, and random where it counts.

    The first 48 bits are the Unix time in milliseconds, so ids sort by
    creation time and B-tree inserts stay at the right edge of the index.
    Within one millisecond in one process, or if the clock steps back, each
    id is the previous one plus a random increment, so ids from one process
    never go backwards (RFC 9562, section 6.2, method 2).

    Example::

        >>> a, b = uuid7(), uuid7()
        >>> a < b, a.version
        (True, 7)
    """
    global _last_ms, _last_random
    now_ms = time_ns() // 1_000_000
    with _lock:
        if now_ms > _last_ms:
            random = secrets.randbits(_RANDOM_BITS)
        else:
            now_ms = _last_ms
            random = _last_random + secrets.randbits(32) + 1
            if random > _RANDOM_MAX:  # the counter ran out: borrow the next millisecond
                now_ms += 1
                random = secrets.randbits(_RANDOM_BITS)
        _last_ms, _last_random = now_ms, random
    rand_a, rand_b = random >> 62, random & ((1 << 62) - 1)
    value = (now_ms & ((1 << 48) - 1)) << 80 | _VERSION_7 | rand_a << 64 | _VARIANT_RFC | rand_b
    return uuid.UUID(int=value)


class UUIDPrimaryKey:
    """Add ``id: Mapped[uuid.UUID]``, a primary key that defaults to `uuid7()`.

    The id is generated in Python when the row is flushed (it is ``None``
    before that unless you pass one), so no round trip is needed to learn it
    and bulk inserts stay batched. It is a native ``UUID`` on PostgreSQL and
    MariaDB 10.7+, ``CHAR(32)`` on SQLite and MySQL.

    Example::

        class Post(UUIDPrimaryKey, Base):
            __tablename__ = "post"

        post = Post()
        session.add(post)
        await session.flush()
        post.id.version  # 7
    """

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7, sort_order=-100)

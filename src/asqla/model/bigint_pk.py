"""``BigIntPrimaryKey``: an auto-incrementing 64-bit integer primary key."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["BigIntPrimaryKey"]


class BigIntPrimaryKey:
    """Add ``id: Mapped[int]``, a 64-bit primary key the database numbers.

    ``BIGSERIAL`` on PostgreSQL and ``BIGINT AUTO_INCREMENT`` on MySQL/MariaDB.
    On SQLite the column is ``INTEGER``: only an ``INTEGER PRIMARY KEY``
    column aliases the rowid and numbers itself, and it is 64-bit already
    (SQLite docs, "ROWIDs and the INTEGER PRIMARY KEY").

    Example::

        class Tag(BigIntPrimaryKey, Base):
            __tablename__ = "tag"

        tag = Tag()
        session.add(tag)
        await session.flush()
        tag.id  # 1
    """

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
        sort_order=-100,
    )

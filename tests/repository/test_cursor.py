"""Keyset cursors: typed values round-trip, and anything not signed by us is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import math
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest

from asqla import ConfigurationError, InvalidCursorError, InvalidQueryError
from asqla.model import uuid7
from asqla.repository import _cursor
from asqla.repository._cursor import CursorSigner, decode_cursor, default_signer, encode_cursor

SECRET = "cursor-tests-secret-0123456789abcdef"
FINGERPRINT = "0123456789abcdef"

VALUES: list[Any] = [
    0,
    -1,
    2**63 - 1,
    2**80,
    True,
    False,
    None,
    "",
    "ünïcødé ✓ \n\t\"'",
    "x' OR '1'='1",
    dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(2024, 1, 1, 12, 0, 0, 123000),  # naive, as SQLite and MySQL return them raw
    dt.date(1999, 12, 31),
    dt.time(1, 2, 3, 4),
    uuid7(),
    uuid.UUID(int=0),
    Decimal("1.10"),
    Decimal("-0E+3"),
    Decimal("1E-30"),
    Decimal("123456789012345678901234567890.123456789"),
    0.1,
    -0.0,
    1e308,
    float("inf"),
    b"\x00\xff binary",
]


def _sign(payload: bytes, secret: str = SECRET) -> str:
    tag = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


def test_typed_values_round_trip_exactly() -> None:
    signer = CursorSigner(SECRET)
    token = encode_cursor(signer, FINGERPRINT, VALUES)
    decoded = decode_cursor(signer, token, FINGERPRINT, len(VALUES))
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # safe in a URL as it is
    for before, after in zip(VALUES, decoded, strict=True):
        assert type(after) is type(before)
        assert after == before
        assert str(after) == str(before)  # Decimal exponent, float sign, UTC offset
        if isinstance(before, float):
            assert math.copysign(1, after) == math.copysign(1, before)


def test_nan_round_trips() -> None:
    signer = CursorSigner(SECRET)
    (value,) = decode_cursor(signer, encode_cursor(signer, FINGERPRINT, [math.nan]), FINGERPRINT, 1)
    assert math.isnan(value)


def test_driver_subclasses_are_accepted() -> None:
    class DriverUUID(uuid.UUID):  # asyncpg returns its own UUID subclass
        pass

    signer = CursorSigner(SECRET)
    value = DriverUUID(int=42)
    token = encode_cursor(signer, FINGERPRINT, [value])
    assert decode_cursor(signer, token, FINGERPRINT, 1) == (uuid.UUID(int=42),)


def test_unsupported_values_are_refused_when_the_cursor_is_made() -> None:
    with pytest.raises(TypeError, match=r"Cannot put a timedelta value \(datetime.timedelta"):
        encode_cursor(CursorSigner(SECRET), FINGERPRINT, [dt.timedelta(days=1)])


def test_every_changed_character_is_refused() -> None:
    signer = CursorSigner(SECRET)
    token = encode_cursor(signer, FINGERPRINT, [1, "a", None])
    alphabet = "AQgw_-9"
    for at in range(len(token)):
        for replacement in alphabet:
            if replacement == token[at]:
                continue
            changed = token[:at] + replacement + token[at + 1 :]
            with pytest.raises(InvalidCursorError, match=r"invalid signature|malformed"):
                decode_cursor(signer, changed, FINGERPRINT, 3)


def test_every_truncation_is_refused() -> None:
    signer = CursorSigner(SECRET)
    token = encode_cursor(signer, FINGERPRINT, [1, "a", None])
    for size in range(len(token)):
        with pytest.raises(InvalidCursorError, match=r"invalid signature|malformed"):
            decode_cursor(signer, token[:size], FINGERPRINT, 3)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("", r"The cursor '' is malformed: it is not base64url", id="empty"),
        pytest.param("hello world", r"'hello world' is malformed", id="space"),
        pytest.param("a+b/c=", "malformed", id="standard-base64"),
        pytest.param("QQ", "invalid signature", id="too-short"),
        pytest.param("QR", "malformed", id="non-canonical"),
        pytest.param("' OR 1=1 --", "malformed", id="sql"),
        pytest.param("A" * 4097, r"'A{37}\.\.\.' is too long \(4097 characters\)", id="huge"),
        pytest.param(12345, "malformed", id="not-a-string"),
    ],
)
def test_garbage_is_refused(token: Any, message: str) -> None:
    with pytest.raises(InvalidCursorError, match=message) as caught:
        decode_cursor(CursorSigner(SECRET), token, FINGERPRINT, 1)
    assert isinstance(caught.value, InvalidQueryError)


def test_cursor_signed_with_another_secret_is_refused() -> None:
    token = encode_cursor(CursorSigner("someone-elses-secret-0123456789"), FINGERPRINT, [1])
    with pytest.raises(
        InvalidCursorError,
        match=r"has an invalid signature: it was altered or truncated, or signed with another "
        r"secret \(check that every worker has the same ASQLA_CURSOR_SECRET\)",
    ):
        decode_cursor(CursorSigner(SECRET), token, FINGERPRINT, 1)


def test_previous_secrets_are_accepted_but_not_used_to_sign() -> None:
    old, new = (
        CursorSigner(SECRET),
        CursorSigner("the-new-secret-0123456789abcdef", previous=[SECRET]),
    )
    assert decode_cursor(new, encode_cursor(old, FINGERPRINT, [7]), FINGERPRINT, 1) == (7,)
    with pytest.raises(InvalidCursorError, match="invalid signature"):
        decode_cursor(old, encode_cursor(new, FINGERPRINT, [7]), FINGERPRINT, 1)


@pytest.mark.parametrize(
    ("fingerprint", "size"),
    [
        pytest.param("fedcba9876543210", 1, id="other-fingerprint"),
        pytest.param(FINGERPRINT, 2, id="other-number-of-keys"),
    ],
)
def test_cursor_for_another_query_is_refused(fingerprint: str, size: int) -> None:
    signer = CursorSigner(SECRET)
    token = encode_cursor(signer, FINGERPRINT, [1])
    with pytest.raises(
        InvalidCursorError, match=r"was issued for a different query or sort order\. Pass it"
    ):
        decode_cursor(signer, token, fingerprint, size)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b'[2,"0123456789abcdef",[1]]', "format version 2, this API reads", id="v2"),
        pytest.param(b"not json", "has an unknown format", id="not-json"),
        pytest.param(b'{"a":1}', "has an unknown format", id="object"),
        pytest.param(b'[1,"0123456789abcdef",[{"zz":"1"}]]', "cannot read", id="unknown-type"),
        pytest.param(b'[1,"0123456789abcdef",[{"dt":"now()"}]]', "cannot read", id="bad-date"),
        pytest.param(b'[1,"0123456789abcdef",[[1]]]', "cannot read", id="nested"),
        pytest.param(b'[1,"0123456789abcdef",[1.5]]', "cannot read", id="untagged-float"),
    ],
)
def test_signed_payloads_we_did_not_write_are_refused(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidCursorError, match=message):
        decode_cursor(CursorSigner(SECRET), _sign(payload), FINGERPRINT, 1)


def test_repr_hides_the_secret() -> None:
    signer = CursorSigner(SECRET, previous=["an-older-secret-0123456789"])
    assert repr(signer) == "<CursorSigner secret=*** previous=1>"
    assert SECRET not in repr(signer)


@pytest.mark.parametrize("secret", ["short", b"", "x" * 15])
def test_short_secrets_are_refused(secret: str | bytes) -> None:
    with pytest.raises(ConfigurationError, match=r"bytes long; at least 16 are needed") as caught:
        CursorSigner(secret)
    assert "short" not in str(caught.value)


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cursor, "_signer", None)


@pytest.mark.usefixtures("fresh_default")
def test_default_signer_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASQLA_CURSOR_SECRET", SECRET)
    signer = default_signer()
    assert default_signer() is signer
    token = encode_cursor(CursorSigner(SECRET), FINGERPRINT, [1])
    assert decode_cursor(signer, token, FINGERPRINT, 1) == (1,)
    assert not caplog.records


@pytest.mark.usefixtures("fresh_default")
def test_default_signer_without_a_secret_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("ASQLA_CURSOR_SECRET", raising=False)
    with caplog.at_level(logging.WARNING, logger="asqla.pagination"):
        signer = default_signer()
        assert default_signer() is signer
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "ASQLA_CURSOR_SECRET is not set" in message
    assert "will not survive a restart and other workers will refuse them" in message
    assert "token_urlsafe(32)" in message
    (key,) = signer._keys
    assert key.hex() not in message and base64.b64encode(key).decode() not in message
    # Works within the process all the same.
    token = encode_cursor(signer, FINGERPRINT, [1])
    assert decode_cursor(signer, token, FINGERPRINT, 1) == (1,)


@pytest.mark.usefixtures("fresh_default")
def test_default_signer_refuses_a_short_environment_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASQLA_CURSOR_SECRET", "tiny")
    with pytest.raises(
        ConfigurationError, match=r"4 bytes long.*Set ASQLA_CURSOR_SECRET"
    ) as caught:
        default_signer()
    assert "tiny" not in str(caught.value)

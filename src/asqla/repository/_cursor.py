"""Opaque keyset cursors: typed values, signed with HMAC-SHA256, base64url-encoded.

A cursor is ``base64url(payload + tag)`` without padding. ``payload`` is
compact JSON ``[1, fingerprint, [value, ...]]``: the format version, the
fingerprint of the query and sort it belongs to, and the sort values of one
row; ``tag`` is HMAC-SHA256 over the payload. The values are readable by
whoever holds the cursor (they are the sort values of a row the client has
already seen), but cannot be changed: a changed byte, a truncated token or
a token signed with another secret fails the tag, and a cursor moved to
another query or sort fails the fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Final

from ..exceptions import ConfigurationError, InvalidCursorError

__all__ = ["SECRET_ENV", "CursorSigner", "decode_cursor", "default_signer", "encode_cursor"]

logger = logging.getLogger("asqla.pagination")

SECRET_ENV: Final = "ASQLA_CURSOR_SECRET"
_VERSION: Final = 1
_TAG_SIZE: Final = hashlib.sha256().digest_size
_MIN_SECRET_BYTES: Final = 16
# A cursor holds one row's sort values: 4 KiB leaves room for long strings
# while keeping a hostile client from making us decode megabytes.
_MAX_TOKEN_CHARS: Final = 4096
_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]+")


class CursorSigner:
    """Sign cursors with a secret, and check the cursors clients send back.

    Every worker of a service must use the same secret, or a cursor issued
    by one is refused by the next. To rotate the secret without breaking the
    cursors clients hold, pass the old one in ``previous`` for a while: new
    cursors are signed with ``secret``, old ones are still accepted.

    Args:
        secret: At least 16 bytes; 32 random bytes is the recommendation
            (``python -c "import secrets; print(secrets.token_urlsafe(32))"``).
        previous: Earlier secrets that are still accepted, but not used to sign.

    Raises:
        ConfigurationError: A secret is shorter than 16 bytes.

    Example::

        signer = CursorSigner(os.environ["ASQLA_CURSOR_SECRET"])
        page = await paginate_keyset(session, select(Post), sort=[...], limit=20, signer=signer)
    """

    __slots__ = ("_keys",)

    def __init__(self, secret: str | bytes, *, previous: Sequence[str | bytes] = ()) -> None:
        self._keys = tuple(_key(value) for value in (secret, *previous))

    def __repr__(self) -> str:
        return f"<CursorSigner secret=*** previous={len(self._keys) - 1}>"

    def sign(self, payload: bytes) -> str:
        """Return ``payload`` and its tag as one base64url token without padding."""
        tag = hmac.new(self._keys[0], payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode("ascii")

    def unsign(self, token: str) -> bytes:
        """Return the payload of ``token`` if one of the secrets signed it.

        Raises:
            InvalidCursorError: The token is not base64url, is too short or
                too long, or its tag does not match.
        """
        shown = _shown(token)
        if isinstance(token, str) and len(token) > _MAX_TOKEN_CHARS:
            raise InvalidCursorError(
                f"The cursor {shown!r} is too long ({len(token)} characters) to be one this "
                "API issued. Pass the `next` or `previous` value of a page unchanged."
            )
        try:
            if not isinstance(token, str) or not _ALPHABET.fullmatch(token):
                raise ValueError("not base64url")
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            # Base64 leaves some low bits of the last character unused: without
            # this check two different tokens would carry the same bytes.
            if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
                raise ValueError("not canonical base64url")
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursorError(
                f"The cursor {shown!r} is malformed: it is not base64url. "
                "Pass the `next` or `previous` value of a page unchanged."
            ) from exc
        payload, tag = raw[:-_TAG_SIZE], raw[-_TAG_SIZE:]
        if not payload or not any(
            hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), tag)
            for key in self._keys
        ):
            raise InvalidCursorError(
                f"The cursor {shown!r} has an invalid signature: it was altered or truncated, "
                f"or signed with another secret (check that every worker has the same "
                f"{SECRET_ENV}). Start again from the first page."
            )
        return payload


def encode_cursor(signer: CursorSigner, fingerprint: str, values: Sequence[Any]) -> str:
    """Return a signed cursor carrying ``values``, bound to ``fingerprint``."""
    document = [_VERSION, fingerprint, [_encode_value(value) for value in values]]
    return signer.sign(json.dumps(document, separators=(",", ":")).encode())


def decode_cursor(signer: CursorSigner, token: str, fingerprint: str, size: int) -> tuple[Any, ...]:
    """Return the ``size`` values of ``token``, checked against its tag and ``fingerprint``.

    Raises:
        InvalidCursorError: The cursor is garbage, tampered with, signed with
            another secret, or was issued for another query or sort.
    """
    payload = signer.unsign(token)
    shown = _shown(token)
    try:
        version, issued_for, encoded = json.loads(payload)
    except (ValueError, TypeError) as exc:  # signed by us, so only an old format gets here
        raise InvalidCursorError(
            f"The cursor {shown!r} has an unknown format. Start again from the first page."
        ) from exc
    if version != _VERSION:
        raise InvalidCursorError(
            f"The cursor {shown!r} has format version {version!r}, this API reads version "
            f"{_VERSION}. Start again from the first page."
        )
    if issued_for != fingerprint or not isinstance(encoded, list) or len(encoded) != size:
        raise InvalidCursorError(
            f"The cursor {shown!r} was issued for a different query or sort order. Pass it "
            "back with the same filters and sort it came with, or start again from the first "
            "page."
        )
    try:
        return tuple(_decode_value(item) for item in encoded)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidCursorError(
            f"The cursor {shown!r} holds a value this API cannot read. "
            "Start again from the first page."
        ) from exc


_signer: CursorSigner | None = None
_signer_lock = threading.Lock()


def default_signer() -> CursorSigner:
    """Return the process's signer, made once from ``ASQLA_CURSOR_SECRET``.

    When the variable is unset, a random secret is made for this process
    and a WARNING is logged once: cursors then stop working after a restart
    and are refused by the other workers of the service.

    Raises:
        ConfigurationError: ``ASQLA_CURSOR_SECRET`` is set but shorter than 16 bytes.
    """
    global _signer
    with _signer_lock:
        if _signer is None:
            secret = os.environ.get(SECRET_ENV)
            if secret is None:
                logger.warning(
                    "%s is not set: pagination cursors are signed with a random secret made "
                    "for this process, so they will not survive a restart and other workers "
                    "will refuse them. Set %s to the same random value (at least 32 "
                    'characters, e.g. python -c "import secrets; '
                    'print(secrets.token_urlsafe(32))") in every worker.',
                    SECRET_ENV,
                    SECRET_ENV,
                )
                _signer = CursorSigner(secrets.token_bytes(32))
            else:
                _signer = CursorSigner(secret)
        return _signer


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < _MIN_SECRET_BYTES:
        # The secret itself is never shown, not even in part.
        raise ConfigurationError(
            f"The cursor secret is {len(key)} bytes long; at least {_MIN_SECRET_BYTES} are "
            f"needed. Set {SECRET_ENV} to a random value of 32 characters or more, e.g. the "
            'output of python -c "import secrets; print(secrets.token_urlsafe(32))".'
        )
    return key


def _shown(token: object) -> str:
    text = str(token)
    return text if len(text) <= 40 else text[:37] + "..."


# JSON carries null, booleans, integers and strings as they are; every other
# type is a one-key object whose key names the type, so that a value comes
# back with the exact type and precision it left with.
def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"f": value.hex()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": value.hex}
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    raise TypeError(
        f"Cannot put a {type(value).__name__} value ({value!r}) in a pagination cursor. "
        "Sort on columns holding numbers, strings, booleans, dates and times, UUIDs, "
        "Decimals or bytes."
    )


def _decode_value(item: Any) -> Any:
    if item is None or isinstance(item, bool | int | str):
        return item
    if not isinstance(item, dict) or len(item) != 1:
        raise ValueError(f"not a cursor value: {item!r}")
    ((tag, text),) = item.items()
    if not isinstance(text, str):
        raise ValueError(f"not a cursor value: {item!r}")
    if tag == "f":
        return float.fromhex(text)
    if tag == "n":
        return decimal.Decimal(text)
    if tag == "dt":
        return dt.datetime.fromisoformat(text)
    if tag == "d":
        return dt.date.fromisoformat(text)
    if tag == "t":
        return dt.time.fromisoformat(text)
    if tag == "u":
        return uuid.UUID(hex=text)
    if tag == "b":
        return base64.b64decode(text, validate=True)
    raise ValueError(f"unknown cursor value type {tag!r}")

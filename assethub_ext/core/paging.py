"""Pages of long listings, and the opaque cursors that continue them.

A cursor is ``base64url("<kind>:<payload>")``: opaque to clients (they only hand it back),
cheap to check, and never trusted. Decoding checks the kind, the alphabet and the length,
and each caller validates the payload as strictly as any other input (a commit id must be
hex and belong to the asset, a path must pass ``check_tree_path``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .errors import InvalidInput

T = TypeVar("T")

MAX_PAGE = 1000
CURSOR_REFUSED = "cursor is not valid here; start the listing again without one."
MAX_CURSOR = 8192
"""A cursor longer than this was not made by us (ours hold a path or a few commit ids)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Some items of a listing; ``next`` continues it (None on the last page)."""

    items: list[T]
    next: str | None = None
    total: int | None = field(default=None)


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}.")
    return limit


def encode_cursor(kind: str, payload: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{payload}".encode()).decode("ascii")


def decode_cursor(cursor: str, kind: str, check: Callable[[str], T]) -> T:
    """The payload of a cursor made by ``encode_cursor(kind, ...)``, passed through ``check``.

    Anything else, including a payload that ``check`` refuses, gets the same one sentence.
    """
    refused = InvalidInput(CURSOR_REFUSED)
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR:
        raise refused
    try:
        raw = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise refused from None
    found, colon, payload = text.partition(":")
    if found != kind or not colon or not payload:
        raise refused
    try:
        return check(payload)
    except InvalidInput:
        raise refused from None

"""Answers that cannot change, kept serialised: a repeated page is a dictionary lookup.

An answer goes in under a key naming what fixes it (``base.answer_key``): a tree page or
the first log page by the commit its ref resolved to, a log page a cursor continues by its
asset and cursor, the diff of two commits by their full ids. Commits are immutable, so a
kept body is never stale; asked by branch, the branch is resolved on every request and
the answer kept under the commit it names now. Keys are shared by all users, because a
body holds nothing particular to who asked; a handler still resolves the request's refs
for the signed-in user (``Hub.resolve``, the core's one permission check) before it
answers from here.
"""

from __future__ import annotations

from ..core.hashing import hash_bytes
from ..core.lru import WeightedLRU

CACHE_SETTING = "assethub_response_cache_mib"
"""``--ServerApp.tornado_settings={'assethub_response_cache_mib': 0}`` turns the cache off."""
CACHE_MIB = 64
IMMUTABLE = "private, max-age=31536000, immutable"
"""``private``: a shared proxy must not hand one user's answer to another without asking us."""


class ResponseCache(WeightedLRU[str, tuple[bytes, str]]):
    """Serialised bodies with their strong ETags, by URL, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, lambda kept: len(kept[0]))

    def keep(self, url: str, body: bytes) -> tuple[bytes, str]:
        """Keep ``body`` under ``url``; returns it with its ETag (the hash of its bytes)."""
        kept = (body, f'"{hash_bytes(body)}"')
        self.put(url, kept)
        return kept

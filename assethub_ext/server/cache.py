"""Answers that cannot change, kept serialised: a repeated page is a dictionary lookup.

Only answers addressed by full commit ids go in (a commit's tree pages, a log page that a
cursor of commit ids continues, the diff of two commits): commits are immutable, so a kept
body is never stale. Keys are URLs, shared by all users, because a body holds nothing
particular to who asked; a handler still resolves the request's refs for the signed-in
user (``Hub.resolve``, the core's one permission check) before it answers from here.
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

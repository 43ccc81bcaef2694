"""Trees: the immutable file listing of a commit (relative path -> object, size, mode).

Paths are validated where they enter a tree (scanning, restore) and where they leave it
(materialisation), not on every decode.

A tree is stored as one content-addressed object, so two commits with the same files share
it and tagging or branching copies nothing. Entries are kept sorted by path; the encoding is
canonical JSON, so equal trees always have equal hashes.
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from .errors import IntegrityError, InvalidInput

TREE_FORMAT = "assethub.tree.v1"
MODE_FILE = 0o100644
MODE_EXECUTABLE = 0o100755


class TreeEntry(NamedTuple):
    """One file of a tree (a NamedTuple: trees hold tens of thousands of these)."""

    path: str
    digest: str
    size: int
    mode: int = MODE_FILE


class Tree(Mapping[str, TreeEntry]):
    """A read-only mapping of path to entry, iterated in path order."""

    def __init__(self, entries: Iterable[TreeEntry] = ()) -> None:
        self._entries: dict[str, TreeEntry] = {}
        for entry in entries:
            self._entries[entry.path] = entry
        if not _is_sorted(self._entries):
            self._entries = dict(sorted(self._entries.items()))
        self._keys: list[str] | None = None

    def __getitem__(self, path: str) -> TreeEntry:
        return self._entries[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def under(self, prefix: str) -> list[TreeEntry]:
        """The entry at ``prefix`` itself, or every entry inside the folder ``prefix``."""
        if prefix in self._entries:
            return [self._entries[prefix]]
        folder = prefix.rstrip("/") + "/"
        return [entry for path, entry in self._entries.items() if path.startswith(folder)]

    def page(self, *, after: str | None, limit: int, prefix: str = "") -> list[TreeEntry]:
        """Up to ``limit`` entries whose path starts with ``prefix``, in path order, after ``after``.

        A bisection on the sorted paths: a page costs the same at the start of a tree of
        100,000 files as at its end.
        """
        keys = self._sorted_keys()
        start = bisect_left(keys, prefix)
        if after is not None:
            start = max(start, bisect_right(keys, after))
        found = []
        for path in keys[start : start + limit]:
            if not path.startswith(prefix):
                break
            found.append(self._entries[path])
        return found

    def count_under(self, prefix: str) -> int:
        """How many paths start with ``prefix`` (two bisections)."""
        if not prefix:
            return len(self)
        keys = self._sorted_keys()
        return bisect_left(keys, prefix[:-1] + chr(ord(prefix[-1]) + 1)) - bisect_left(keys, prefix)

    def _sorted_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = list(self._entries)
        return self._keys

    def replaced(self, upserts: Iterable[TreeEntry] = (), removals: Iterable[str] = ()) -> Tree:
        entries = dict(self._entries)
        for path in removals:
            entries.pop(path, None)
        for entry in upserts:
            entries[entry.path] = entry
        return Tree(entries.values())

    def encode(self) -> bytes:
        rows = [[e.path, e.digest, e.size, e.mode] for e in self._entries.values()]
        text = json.dumps({"format": TREE_FORMAT, "entries": rows}, separators=(",", ":"))
        return zlib.compress(text.encode("utf-8"), 1)

    @classmethod
    def decode(cls, data: bytes) -> Tree:
        try:
            document = json.loads(zlib.decompress(data))
            if document.get("format") != TREE_FORMAT:
                raise ValueError(document.get("format"))
            entries = list(map(TreeEntry._make, document["entries"]))
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise IntegrityError(
                f"a stored tree is unreadable ({exc}); run 'assethub fsck'."
            ) from exc
        return cls(entries)


class TreeCache:
    """Decoded trees by digest, least recently used first out, bounded by total entries.

    Trees are immutable and named by their hash, so a cached one is never stale; the server
    keeps one so that paging through a commit of 100,000 files decodes its tree once.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._trees: OrderedDict[str, Tree] = OrderedDict()
        self._held = 0

    def get(self, digest: str) -> Tree | None:
        tree = self._trees.get(digest)
        if tree is not None:
            self._trees.move_to_end(digest)
        return tree

    def put(self, digest: str, tree: Tree) -> None:
        if len(tree) > self.max_entries or digest in self._trees:
            return
        self._trees[digest] = tree
        self._held += len(tree)
        while self._held > self.max_entries:
            _, dropped = self._trees.popitem(last=False)
            self._held -= len(dropped)


def _is_sorted(entries: dict[str, TreeEntry]) -> bool:
    keys = list(entries)
    return all(a < b for a, b in pairwise(keys))


@dataclass(frozen=True)
class TreeChange:
    path: str
    status: str  # "added" | "removed" | "changed"
    old_size: int | None
    new_size: int | None


def diff_trees(old: Tree, new: Tree) -> list[TreeChange]:
    """Files added, removed and changed from ``old`` to ``new``, in path order."""
    if not old or not new:  # a first add or an emptied draft: no per-path comparison needed
        side, status = (new, "added") if new else (old, "removed")
        return [
            TreeChange(e.path, status, None, e.size)
            if status == "added"
            else TreeChange(e.path, status, e.size, None)
            for e in side.values()
        ]
    changes: list[TreeChange] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before is None and after is not None:
            changes.append(TreeChange(path, "added", None, after.size))
        elif after is None and before is not None:
            changes.append(TreeChange(path, "removed", before.size, None))
        elif (
            before is not None
            and after is not None
            and (before.digest != after.digest or before.mode != after.mode)
        ):
            changes.append(TreeChange(path, "changed", before.size, after.size))
    return changes


def check_no_file_folder_clash(tree: Tree) -> None:
    """Refuse trees where a path is both a file and a folder (``a`` and ``a/b``)."""
    paths = set(tree)
    folders = {path.rpartition("/")[0] for path in paths}  # thousands of files, few folders
    for folder in folders:
        parent = folder
        while parent:
            if parent in paths:
                raise InvalidInput(f"'{parent}' would be both a file and a folder.")
            parent = parent.rpartition("/")[0]

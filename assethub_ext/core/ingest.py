"""Turning files on disk into tree entries, storing only what the store lacks.

The workspace index answers "what is this file's hash?" from a ``stat`` when the file is
unchanged, so re-adding an unchanged tree reads no file at all; the store is then asked,
in one query, which of those objects it is missing (say, after a ``gc``).
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from ..storage.objects import ObjectStore, ObjectWriter
from .errors import InvalidInput
from .progress import ProgressFactory, no_progress
from .scan import SourceFile
from .tree import MODE_EXECUTABLE, MODE_FILE, TreeEntry
from .workspace_index import WorkspaceIndex


class Ingested(NamedTuple):
    entries: list[TreeEntry]
    hashed_bytes: int
    """How many bytes had to be read (the rest was known from the workspace index)."""
    linked: list[tuple[SourceFile, str]]
    """Files taken by link: ``remember_linked`` records them once the batch is committed."""
    hashed_at_ns: int


def remember_linked(index: WorkspaceIndex, ingested: Ingested) -> None:
    """Record linked files with their stat as it is now: linking the inode into the store
    and placing it there moved its ctime, which the index compares."""
    restated = []
    for source, digest in ingested.linked:
        st = os.stat(source.path)
        if (st.st_size, st.st_mtime_ns, st.st_ino) == (source.size, source.mtime_ns, source.ino):
            restated.append((source._replace(ctime_ns=st.st_ctime_ns), digest))
    index.remember(restated, ingested.hashed_at_ns)


def ingest(
    files: list[SourceFile],
    *,
    store: ObjectStore,
    writer: ObjectWriter,
    index: WorkspaceIndex,
    reachable: set[str] | frozenset[str] = frozenset(),
    progress: ProgressFactory = no_progress,
    link: bool = False,
) -> Ingested:
    """Tree entries for ``files``, and how many bytes had to be read (the rest was known).

    ``reachable`` holds digests of a tree that a ref or the draft already names (the one
    being replaced): those objects exist and gc keeps them, so they need no query at all.
    ``link``: files are linked into the store, not copied (see ``core.links``).
    """
    known = index.known_digests(files)
    unsure = set(known.values()) - reachable
    absent = store.missing(unsure)
    writer.keep(unsure - absent)
    todo = [f for f in files if f.path not in known or known[f.path] in absent]
    hashed_at = time.time_ns()
    fresh: list[tuple[SourceFile, str]] = []
    linked: list[tuple[SourceFile, str]] = []
    bar = progress("add", sum(f.size for f in todo), "B")
    try:
        for source in todo:
            try:
                before = writer.linked_files
                digest = writer.put_file(
                    source.path, source.size, known.get(source.path), link=link
                )
            except PermissionError:
                raise InvalidInput(f"cannot read '{source.path}': permission denied.") from None
            except (FileNotFoundError, IsADirectoryError):
                raise InvalidInput(
                    f"'{source.path}' disappeared while it was being added; run the command again."
                ) from None
            (linked if writer.linked_files > before else fresh).append((source, digest))
            bar.update(source.size)
    finally:
        bar.close()
    index.remember(fresh, hashed_at)
    digests = {**known, **{f.path: d for f, d in fresh + linked}}
    entries = [
        TreeEntry(f.rel, digests[f.path], f.size, MODE_EXECUTABLE if f.executable else MODE_FILE)
        for f in files
    ]
    return Ingested(entries, sum(f.size for f, _ in fresh + linked), linked, hashed_at)

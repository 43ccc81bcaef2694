"""Walking the files a user hands to ``add`` or ``commit``, refusing what cannot be stored.

Refused, before anything is written: symbolic links that point outside the folder being
added (they would smuggle in files the user did not name), links to folders, special
files (sockets, FIFOs, devices), and names that are not valid UTF-8 or that the tree
grammar does not allow.
"""

from __future__ import annotations

import os
import stat
from array import array
from typing import NamedTuple

import blake3

from .errors import InvalidInput, NotFound
from .names import check_tree_path, quote

CHECKOUT_MARKER = ".assethub-checkout"


class SourceFile(NamedTuple):
    """A file found on disk, with the stat that the workspace index compares."""

    rel: str
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    executable: bool


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


RawFile = tuple[str, str, os.stat_result]
"""(path in the tree, path on disk, stat): what a walk finds, before any validation."""


def _source_file(rel: str, path: str, st: os.stat_result) -> SourceFile:
    if not rel.isascii():  # only a name with other characters can hold undecodable bytes
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"the name of {os.fsencode(path)!r} is not valid UTF-8.") from None
    check_tree_path(rel)
    return SourceFile(
        rel, path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, bool(st.st_mode & 0o111)
    )


def _walk(folder: str, rel_prefix: str, root_real: str, found: list[RawFile]) -> None:
    """Append the files under ``folder`` to ``found`` (a list, not a generator: this loop
    runs once per file on every ``status``, and resuming nested generators costs more than
    the ``stat`` itself)."""
    try:
        listing = os.scandir(folder)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read folder {quote(folder)}: {os.strerror(exc.errno or 0)}."
        ) from None
    with listing as entries:
        for entry in entries:
            name = entry.name
            if name == CHECKOUT_MARKER:
                continue
            if entry.is_symlink():
                st = _follow(entry.path, root_real)
            elif entry.is_dir(follow_symlinks=False):
                _walk(entry.path, f"{rel_prefix}{name}/", root_real, found)
                continue
            else:
                st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(
                    f"{quote(entry.path)} is not a regular file (socket, FIFO or device)."
                )
            found.append((rel_prefix + name, entry.path, st))


def _follow(link: str, root_real: str) -> os.stat_result:
    """The stat of what a symbolic link names, if that is a file inside the folder being added."""
    target = os.path.realpath(link)
    if not _inside(target, root_real):
        raise InvalidInput(
            f"{quote(link)} is a symbolic link to {quote(target)}, outside the folder being added; "
            "copy the file in or add its real location instead."
        )
    try:
        st = os.stat(link)
    except OSError as exc:
        raise InvalidInput(
            f"{quote(link)} is a broken symbolic link ({os.strerror(exc.errno or 0)})."
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(
            f"{quote(link)} is a symbolic link to a folder; add the folder itself instead."
        )
    return st


def walk(source: str, *, as_contents: bool) -> list[RawFile]:
    """The files under ``source``, unvalidated and unsorted (``scan`` validates and sorts).

    ``as_contents=False`` (``add``): the source lands in the tree under its own name.
    ``as_contents=True`` (``commit``): the source's contents become the tree.
    """
    if not os.path.lexists(source):
        raise NotFound(f"{quote(source)} does not exist.")
    path = os.path.abspath(source)
    root_real = os.path.realpath(path)
    if os.path.isdir(root_real):
        prefix = "" if as_contents else os.path.basename(path.rstrip(os.sep)) + "/"
        if prefix == "/":
            raise InvalidInput("cannot add the root folder '/'.")
        found: list[RawFile] = []
        _walk(root_real, prefix, root_real, found)
        return found
    if as_contents:
        raise InvalidInput(
            f"{quote(source)} is a file; commit takes a folder whose contents become the tree."
        )
    try:
        st = os.stat(root_real)
    except OSError as exc:
        raise InvalidInput(f"cannot read {quote(source)}: {os.strerror(exc.errno or 0)}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{quote(source)} is not a regular file (socket, FIFO or device).")
    return [(os.path.basename(path), root_real, st)]


class StatStamp(NamedTuple):
    """One source folder's stats in one digest, so that ``status`` of an unchanged folder
    compares one string instead of loading a tree and 20,000 index rows."""

    fingerprint: str
    newest_mtime_ns: int


def stat_stamp(raw: list[RawFile]) -> StatStamp | None:
    """The digest of every name and stat in walk order; None if a stat does not fit 64 bits.

    No mode: changing it (``chmod``) moves the ctime, which is in. Walk order is the file
    system's listing order: it is stable while a folder is left alone, and any change that
    could reorder it also changes a name or a stat, so a mismatch only ever costs the slow
    comparison.
    """
    stats = array("q")
    try:
        for _, _, st in raw:
            stats.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    except OverflowError:
        return None
    hasher = blake3.blake3("\0".join(rel for rel, _, _ in raw).encode("utf-8", "surrogateescape"))
    hasher.update(stats.tobytes())
    newest = max(stats[1::4], default=0)
    return StatStamp(hasher.hexdigest(), newest)


def _validated(raw: list[RawFile]) -> list[SourceFile]:
    return sorted(_source_file(*r) for r in raw)  # by path: the first field, never equal


def scan(source: str, *, as_contents: bool) -> list[SourceFile]:
    """The validated files under ``source``, in tree order."""
    return _validated(walk(source, as_contents=as_contents))


def source_roots(sources: list[str]) -> dict[str, str]:
    """Each source's real path and the name it lands under in the tree (must be distinct)."""
    if not sources:
        raise InvalidInput("name at least one file or folder to add.")
    roots: dict[str, str] = {}
    for source in sources:
        if not os.path.lexists(source):
            raise NotFound(f"{quote(source)} does not exist.")
        name = os.path.basename(os.path.abspath(source).rstrip(os.sep))
        if name in roots.values():
            raise InvalidInput(
                f"two sources would both land in the draft as {quote(name)}; add them one at a time."
            )
        roots[os.path.realpath(source)] = name
    return roots


class Sources(NamedTuple):
    files: list[SourceFile]
    roots: dict[str, str]
    """Each source's real path -> the name it lands under (see ``source_roots``)."""
    stamps: dict[str, StatStamp | None]
    """Each source's real path -> its stats in one digest (see ``stat_stamp``)."""


def scan_sources(sources: list[str]) -> Sources:
    """Files of every source, each source's root, and its stat stamp."""
    roots = source_roots(sources)
    files: list[SourceFile] = []
    stamps: dict[str, StatStamp | None] = {}
    for source in sources:
        raw = walk(source, as_contents=False)
        files += _validated(raw)
        stamps[os.path.realpath(source)] = stat_stamp(raw)
    return Sources(files, roots, stamps)

"""Walking the files a user hands to ``add`` or ``commit``, refusing what cannot be stored.

Refused, before anything is written: symbolic links that point outside the folder being
added (they would smuggle in files the user did not name), links to folders, special
files (sockets, FIFOs, devices), and names that are not valid UTF-8 or that the tree
grammar does not allow.
"""

from __future__ import annotations

import marshal
import os
import stat
from array import array
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

import blake3

from .errors import InvalidInput, NotFound
from .forked import can_fork, forked
from .names import check_tree_path, quote

CHECKOUT_MARKER = ".assethub-checkout"
SPLIT_AT_LEAST = 1000
"""Files a walk finds on its own before it shares the rest with a forked child: a fork
costs 1-2 ms, about what walking 1,000 files costs, so a small folder is never split."""


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


RawFile = tuple[str, str, int, int, int, int, int]
"""(path in the tree, path on disk, size, mtime_ns, ctime_ns, inode, mode): what a walk
finds, before any validation. Plain numbers, not an ``os.stat_result``, so that half a walk
done in a forked child comes back through ``marshal``."""

_STAMPED_STATS = itemgetter(2, 3, 4, 5)
"""The part of a ``RawFile`` that ``stat_stamp`` digests: size, mtime, ctime, inode."""


def _raw_file(rel: str, path: str, st: os.stat_result) -> RawFile:
    return (rel, path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)


def _source_file(
    rel: str, path: str, size: int, mtime_ns: int, ctime_ns: int, ino: int, mode: int
) -> SourceFile:
    if not rel.isascii():  # only a name with other characters can hold undecodable bytes
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"the name of {os.fsencode(path)!r} is not valid UTF-8.") from None
    check_tree_path(rel)
    return SourceFile(rel, path, size, mtime_ns, ctime_ns, ino, bool(mode & 0o111))


def _walk_each(
    folder: str, names: list[str], rel_prefix: str, root_real: str, found: list[RawFile]
) -> list[RawFile]:
    """Append the files under each subfolder ``names`` of ``folder`` to ``found``, depth
    first, each folder's own files before its subfolders'."""
    for name in names:
        path, prefix = _folder_child(folder, name), f"{rel_prefix}{name}/"
        _walk_each(path, _list_folder(path, prefix, root_real, found), prefix, root_real, found)
    return found


def _folder_child(folder: str, name: str) -> str:
    return folder + name if folder.endswith(os.sep) else folder + os.sep + name


def _list_folder(folder: str, rel_prefix: str, root_real: str, found: list[RawFile]) -> list[str]:
    """Append the files of ``folder`` to ``found``; return the names of its subfolders.

    A list, not a generator: this loop runs once per file on every ``status``, and resuming
    nested generators costs more than the ``stat`` itself. Files are stat-ed relative to
    the folder's descriptor, so the kernel resolves one name instead of the whole path
    again (10% of a 20,000-file walk); the descriptor is closed before any subfolder is
    walked, so a deep tree holds one at a time. ``O_NOFOLLOW``: a folder swapped for a
    symbolic link after it was listed is refused.
    """
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read folder {quote(folder)}: {os.strerror(exc.errno or 0)}."
        ) from None
    subfolders = []
    try:
        with os.scandir(descriptor) as entries:
            for entry in entries:
                name = entry.name
                if name == CHECKOUT_MARKER:
                    continue
                path = _folder_child(folder, name)
                if entry.is_symlink():
                    st = _follow(path, root_real)
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append(name)
                    continue
                else:
                    st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    raise InvalidInput(
                        f"{quote(path)} is not a regular file (socket, FIFO or device)."
                    )
                found.append(_raw_file(rel_prefix + name, path, st))
    finally:
        os.close(descriptor)
    return subfolders


def _walk_root(root_real: str, rel_prefix: str) -> list[RawFile]:
    """Every file under the folder ``root_real``. Its subfolders are walked here one by one
    until ``SPLIT_AT_LEAST`` files are found; where a fork is allowed, the second half of
    the rest is then walked by a forked child (see ``forked.py``).

    A walk is one ``stat`` per file with Python work between them, so threads would queue
    for the GIL; a child walks on the other core and sends its files back through
    ``marshal`` (1 MB and 3 ms for 10,000). On the reference 2-core machine that takes a
    20,000-file walk from 46 ms to about 36. The result, order included, is the same
    either way: this folder's files, then each subfolder's in listing order.
    """
    found: list[RawFile] = []
    subfolders = _list_folder(root_real, rel_prefix, root_real, found)
    walked = 0
    while walked < len(subfolders) and len(found) < SPLIT_AT_LEAST:
        _walk_each(root_real, subfolders[walked : walked + 1], rel_prefix, root_real, found)
        walked += 1
    pending = subfolders[walked:]  # not pop(0) per subfolder: quadratic in a wide folder
    half = len(pending) // 2
    if not half or not can_fork():
        return _walk_each(root_real, pending, rel_prefix, root_real, found)
    theirs = pending[half:]
    with forked(
        lambda _: marshal.dumps(_walk_each(root_real, theirs, rel_prefix, root_real, [])),
        die_with_parent=False,
    ) as child:
        _walk_each(root_real, pending[:half], rel_prefix, root_real, found)
    found += marshal.loads(child.result)
    return found


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
        return _walk_root(root_real, prefix)
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
    return [_raw_file(os.path.basename(path), root_real, st)]


class StatStamp(NamedTuple):
    """One source folder's stats in one digest, so that ``status`` of an unchanged folder
    compares one string instead of loading a tree and 20,000 index rows."""

    fingerprint: str
    stats: array[int]
    """(size, mtime, ctime, inode) of each file in walk order, flat."""

    @property
    def newest_mtime_ns(self) -> int:
        """Only ``add`` asks (is the stamp racily clean?); ``status`` compares the digest alone."""
        return max(self.stats[1::4], default=0)


def stat_stamp(raw: list[RawFile]) -> StatStamp | None:
    """The digest of every name and stat in walk order; None if a stat does not fit 64 bits.

    No mode: changing it (``chmod``) moves the ctime, which is in. Walk order (each folder's
    files in the file system's listing order, then its subfolders) is stable while a
    folder is left alone, and any change that could reorder it also changes a name or a
    stat, so a mismatch only ever costs the slow comparison. Built with ``map`` and
    ``itemgetter`` (C loops): it runs once per file on every ``status``.
    """
    try:
        stats = array("q", chain.from_iterable(map(_STAMPED_STATS, raw)))
    except OverflowError:
        return None
    names = "\0".join(map(itemgetter(0), raw))
    hasher = blake3.blake3(names.encode("utf-8", "surrogateescape"))
    hasher.update(stats.tobytes())
    return StatStamp(hasher.hexdigest(), stats)


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
    walked: list[list[RawFile]]
    """Each source's files as walked, unvalidated (see ``files``)."""
    roots: dict[str, str]
    """Each source's real path -> the name it lands under (see ``source_roots``)."""
    stamps: dict[str, StatStamp | None]
    """Each source's real path -> its stats in one digest (see ``stat_stamp``)."""

    def files(self) -> list[SourceFile]:
        """Every file, validated: each source's in tree order, the sources in the order given.
        Not done by ``scan_sources``: an add whose stamps show nothing changed needs none."""
        return [file for raw in self.walked for file in _validated(raw)]


def scan_sources(sources: list[str]) -> Sources:
    """Files of every source, each source's root, and its stat stamp."""
    roots = source_roots(sources)
    walked = [walk(source, as_contents=False) for source in sources]
    stamps = {os.path.realpath(s): stat_stamp(raw) for s, raw in zip(sources, walked, strict=True)}
    return Sources(walked, roots, stamps)

"""Materialising a tree into a folder: reflink, else a read-only hard link, else a copy.

Small objects live in packs and are always written as new files (for a few KiB a copy
costs no more than a link). Large objects are loose files in the store and can be
reflinked (copy-on-write, where the file system has it) or hard-linked; a hard link
shares the store's read-only inode, so it is read-only too.

Safety: every path was validated when it entered the tree and is validated again here;
files are created with ``O_EXCL | O_NOFOLLOW``, so a symbolic link planted in the target
can never redirect a write outside it. A folder that holds an earlier checkout (it has a
``.assethub-checkout`` marker) is updated in place, but only files the user has not
modified since are replaced or removed.

Interruption: before touching files the marker records the tree being written as
``pending``; a checkout killed halfway therefore leaves a folder whose files each belong
to the old tree or the pending one, and the next checkout recognises both as its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Literal

from ..storage.objects import ObjectStore
from .errors import Conflict, IntegrityError, InvalidInput
from .forked import can_fork, forked
from .hashing import copy_hashing, hash_file
from .links import NO_LINK_HERE, reflink
from .names import check_tree_path, quote
from .progress import ProgressBar, ProgressFactory, no_progress
from .scan import CHECKOUT_MARKER
from .tree import MODE_EXECUTABLE, Tree, TreeEntry, diff_trees

_HEX = re.compile(r"[0-9a-f]{64}")
PROGRESS_STEP = 1024 * 1024
"""Bytes written between two updates of the progress bar."""
SPLIT_AT_LEAST = 1000
"""Objects a checkout must write before half of them go to a forked child."""
LinkMode = Literal["auto", "reflink", "hardlink", "copy"]
LINK_MODES: tuple[LinkMode, ...] = ("auto", "reflink", "hardlink", "copy")


@dataclass
class CheckoutReport:
    files: int = 0
    bytes: int = 0
    methods: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    removed: int = 0


def read_marker(dest: str) -> dict[str, str] | None:
    """The marker of an earlier checkout, or None when absent or not one of ours."""
    try:
        with open(os.path.join(dest, CHECKOUT_MARKER), encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not all(
        isinstance(marker.get(k), str) for k in ("ref", "commit", "tree")
    ):
        return None
    trees = [marker["tree"], marker.get("pending", marker["tree"])]
    return marker if all(isinstance(t, str) and _HEX.fullmatch(t) for t in trees) else None


def _marker_trees(marker: dict[str, str]) -> list[str]:
    """The trees whose files may be in a checkout folder: its last one, and a pending one."""
    return list(dict.fromkeys([marker["tree"], marker.get("pending", marker["tree"])]))


def _write_marker(dest: str, marker: dict[str, str]) -> None:
    """Replace the marker whole; the temporary file is this process's own, so two
    checkouts into one folder (parallel sweep workers) never rename each other's."""
    tmp = os.path.join(dest, f"{CHECKOUT_MARKER}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(marker, handle)
    os.replace(tmp, os.path.join(dest, CHECKOUT_MARKER))


def _place_loose(source: str, target: str, entry: TreeEntry, link: LinkMode) -> str:
    """Place one large object, verified against its hash; returns the method used.

    A link shares the object's bytes, so the object itself is hashed; a copy is hashed
    while it is written. Either way, bad bytes never stay in the target.
    """
    method = _link(source, target, link)
    if method is None:
        digest = copy_hashing(source, target)[0]
        os.chmod(target, 0o755 if entry.mode == MODE_EXECUTABLE else 0o644)
        method = "copy"
    else:
        digest = hash_file(source, entry.size)
    if digest != entry.digest:
        os.unlink(target)
        raise IntegrityError(f"object {entry.digest[:12]} is corrupt; run 'assethub fsck'.")
    return method


def _link(source: str, target: str, link: LinkMode) -> str | None:
    """Reflink or hard-link as ``link`` allows; None when a copy is needed."""
    if link in ("auto", "reflink"):
        try:
            reflink(source, target)
            return "reflink"
        except OSError as exc:
            if link == "reflink":
                reason = os.strerror(exc.errno or 0)
                raise InvalidInput(f"this file system cannot reflink ({reason}).") from None
    if link in ("auto", "hardlink"):
        try:
            os.link(source, target)
            return "hardlink"
        except OSError as exc:
            if link == "hardlink" or exc.errno not in NO_LINK_HERE:
                reason = os.strerror(exc.errno or 0)
                raise InvalidInput(f"cannot hard-link into '{target}': {reason}.") from None
    return None


def _write_new(target: str, data: bytes, entry: TreeEntry) -> None:
    mode = 0o755 if entry.mode == MODE_EXECUTABLE else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class _Folders:
    """Resolves tree paths to places inside the target, never through a symbolic link.

    Each folder is walked one component at a time with ``lstat``; a component that is a
    symbolic link or a file is refused, so nothing planted in the target can send a write
    or a delete elsewhere. Folders are created only by ``target`` (for writing).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._checked: set[str] = {root}
        self._parents: dict[str, str] = {}
        """Tree folder -> checked folder on disk: most files share a folder with the last."""

    def target(self, rel: str) -> str:
        """Where ``rel`` is written; creates its folders. (Joined by hand: ``name`` is one
        checked path component, and ``os.path.join`` costs more than the check itself.)"""
        folder, name = self._folder(rel, create=True)
        assert folder is not None
        return folder + os.sep + name

    def existing(self, rel: str) -> str | None:
        """Where ``rel`` is now, or None if its folder does not exist."""
        folder, name = self._folder(rel, create=False)
        return None if folder is None else os.path.join(folder, name)

    def _folder(self, rel: str, *, create: bool) -> tuple[str | None, str]:
        check_tree_path(rel)
        parent, _, name = rel.rpartition("/")
        known = self._parents.get(parent)
        if known is not None:
            return known, name
        current = self.root
        for part in parent.split("/") if parent else []:
            current = os.path.join(current, part)
            if current in self._checked:
                continue
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                if not create:
                    return None, name
                with contextlib.suppress(FileExistsError):  # made meanwhile by the other half
                    os.mkdir(current)
                mode = os.lstat(current).st_mode
            if not stat.S_ISDIR(mode):
                raise InvalidInput(
                    f"{quote(rel)}: {quote(current)} is a symbolic link or a file, not a folder; "
                    "refusing to write through it."
                )
            self._checked.add(current)
        self._parents[parent] = current
        return current, name


def _write_packed(
    store: ObjectStore, wanted: dict[str, list[TreeEntry]], folders: _Folders, bar: ProgressBar
) -> int:
    """Write small objects as new files, in pack order. Returns the number of files written.

    A large checkout is split in two halves, the second written by a forked child (see
    ``forked.py``): on the reference 2-core machine that takes 20,000 files from 0.28 s to
    about 0.17 s. Writer threads were measured and lost (0.55 s): creating a file is three
    system calls, each of which lets go of the GIL and must take it back from the thread
    reading and verifying the packs.
    """
    digests = list(wanted)
    if len(digests) < SPLIT_AT_LEAST or not can_fork():
        _write_objects(store.read_many(digests), wanted, folders, bar.update)
    else:
        _write_split(store, digests, wanted, folders, bar)
    return sum(len(entries) for entries in wanted.values())


def _write_split(
    store: ObjectStore,
    digests: list[str],
    wanted: dict[str, list[TreeEntry]],
    folders: _Folders,
    bar: ProgressBar,
) -> None:
    """The first half here, the second in a forked child. The child's ``read_many`` is
    started here: it looks everything up before its first object, so the child only
    reads files (it must not touch the parent's database connection)."""
    half = len(digests) // 2
    started = store.read_many(digests[half:])
    theirs = chain([next(started)], started)  # its lookups are done: the child only reads
    with forked(lambda report: _write_objects(theirs, wanted, folders, report)) as child:
        ours = store.read_many(digests[:half])
        _write_objects(ours, wanted, folders, lambda n: bar.update(n + child.progress()))
    bar.update(child.progress())


def _write_objects(
    objects: Iterable[tuple[str, bytes]],
    wanted: dict[str, list[TreeEntry]],
    folders: _Folders,
    report: Callable[[int], object],
) -> None:
    """Each object at each of its places, reporting progress every ``PROGRESS_STEP`` bytes."""
    done = 0
    for digest, data in objects:
        for entry in wanted[digest]:
            _write_new(folders.target(entry.path), data, entry)
            done += entry.size
        if done >= PROGRESS_STEP:
            report(done)
            done = 0
    report(done)


def _prepare_dest(dest: str) -> tuple[str, dict[str, str] | None]:
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise InvalidInput(f"{quote(dest)} exists and is not a folder.")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {quote(dest)}: {os.strerror(exc.errno or 0)}.") from None
    root = os.path.realpath(dest)
    marker = read_marker(root)
    if marker is None and os.listdir(root):
        raise Conflict(
            f"{quote(dest)} is not empty and holds no earlier checkout; choose an empty folder."
        )
    return root, marker


@dataclass
class _Claim:
    """What an earlier checkout may have left at one path: whole files, or a cut-off write."""

    digests: set[str] = field(default_factory=set)
    partial_below: int = 0  # an interrupted write of this many bytes leaves fewer

    def owns(self, digest: str | None, size: int) -> bool:
        return digest in self.digests or size < self.partial_below


def _clear_old(
    folders: _Folders, olds: list[Tree], pending: Tree | None, new: Tree, force: bool
) -> int:
    """Remove files that the new tree drops or changes, refusing to lose local edits.

    A file is ours (safe to replace) when its bytes are what an earlier tree put at its
    path, or, after an interrupted checkout, when it is shorter than the file being
    written there (a write cut off by the interruption); a file with the new bytes stays.
    """
    doomed = []
    for rel, claim in _claims(olds, pending, new).items():
        path = folders.existing(rel)
        if path is None or not os.path.lexists(path):
            continue
        link = os.path.islink(path)
        size = -1 if link else os.path.getsize(path)
        digest = None if link else hash_file(path, size)
        if rel in new and digest == new[rel].digest:
            continue
        if not force and not claim.digests and not claim.partial_below:
            raise Conflict(
                f"{quote(rel)} is in the way (it is not from the earlier checkout); move it away or use --force."
            )
        if not force and (link or not claim.owns(digest, size)):
            raise Conflict(
                f"{quote(rel)} was modified since it was checked out; move it away or use --force."
            )
        doomed.append(path)
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return len(doomed)


def _claims(olds: list[Tree], pending: Tree | None, new: Tree) -> dict[str, _Claim]:
    """Paths that may need replacing, each with what an earlier checkout may have left."""
    claims: dict[str, _Claim] = {}
    for old in olds:
        for change in diff_trees(old, new):
            claim = claims.setdefault(change.path, _Claim())
            if change.path in old:
                claim.digests.add(old[change.path].digest)
    for entry in pending.values() if pending is not None else ():
        claim = claims.setdefault(entry.path, _Claim())
        claim.digests.add(entry.digest)
        claim.partial_below = entry.size
    return claims


def _present(folders: _Folders, rel: str) -> bool:
    path = folders.existing(rel)
    return path is not None and os.path.lexists(path)


def materialize(
    store: ObjectStore,
    tree: Tree,
    dest: str,
    *,
    old_tree_loader: Callable[[str], Tree],
    marker: dict[str, str],
    link: LinkMode = "auto",
    force: bool = False,
    progress: ProgressFactory = no_progress,
) -> CheckoutReport:
    """Make ``dest`` hold exactly ``tree`` (plus the marker) and return what was done."""
    root, previous = _prepare_dest(dest)
    report = CheckoutReport()
    folders = _Folders(root)
    wanted = tree
    _write_marker(root, {**(previous or marker), "pending": marker["tree"]})
    if previous is not None:
        olds = [old_tree_loader(digest) for digest in _marker_trees(previous)]
        pending = old_tree_loader(previous["pending"]) if "pending" in previous else None
        report.removed = _clear_old(folders, olds, pending, tree, force)
        wanted = Tree(e for e in tree.values() if not _present(folders, e.path))
    bar = progress("checkout", wanted.total_size, "B")
    try:
        loose = store.local_files(e.digest for e in wanted.values())
        packed: dict[str, list[TreeEntry]] = defaultdict(list)
        for entry in wanted.values():
            local = loose.get(entry.digest)
            if local is None:
                packed[entry.digest].append(entry)
                continue
            report.methods[_place_loose(local, folders.target(entry.path), entry, link)] += 1
            bar.update(entry.size)
        if packed:
            report.methods["copy"] += _write_packed(store, packed, folders, bar)
    finally:
        bar.close()
    report.files = len(wanted)
    report.bytes = wanted.total_size
    _write_marker(root, marker)
    return report

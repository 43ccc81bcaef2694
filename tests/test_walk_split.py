"""A walk shared with a forked child finds what a walk on one core finds, in the same order,
and refuses the same things, whichever half they are in."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext.core import scan
from assethub_ext.core.errors import InvalidInput
from assethub_ext.core.forked import forked

Walk = Callable[[Path], list[scan.RawFile]]

FILES = {
    "top.txt": "top",
    **{f"d{n}/f{k}.bin": f"{n}/{k}" * (k + 1) for n in range(6) for k in range(4)},
    "d5/deeper/still/x.txt": "deep",
    "d0/inner/y.txt": "inner",
}


def _walker(monkeypatch: pytest.MonkeyPatch, *, may_fork: bool) -> tuple[Walk, list[int]]:
    """``walk`` with the split allowed or not, and the record of each split's child pid."""
    forks: list[int] = []

    @contextmanager
    def spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        with forked(*args, **kwargs) as child:
            forks.append(child.pid)
            yield child

    monkeypatch.setattr(scan, "can_fork", lambda: may_fork)
    monkeypatch.setattr(scan, "SPLIT_AT_LEAST", 0)  # these trees are small: split them anyway
    monkeypatch.setattr(scan, "forked", spying)
    return (lambda root: scan.walk(str(root), as_contents=False)), forks


def _childs_last(root: Path) -> str:
    """The subfolder a split walk leaves to the child for sure: the last one listed."""
    return [name for name in os.listdir(root) if (root / name).is_dir()][-1]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "data", FILES)
    os.symlink("../top.txt", root / "d4" / "link-inside")  # a link to a file inside is followed
    return root


def test_a_split_walk_equals_a_walk_on_one_core(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_core, none = _walker(monkeypatch, may_fork=False)
    alone = one_core(tree)
    split, forks = _walker(monkeypatch, may_fork=True)
    shared = split(tree)
    assert none == [] and len(forks) == 1 and forks[0] != os.getpid()
    assert shared == alone  # same files, same stats, same order: the same stat stamp
    assert len(shared) == len(FILES) + 1
    assert scan.stat_stamp(shared) == scan.stat_stamp(alone)
    by_rel = {rel: (path, size) for rel, path, size, *_ in shared}
    assert by_rel["data/d4/link-inside"] == (str(tree / "d4" / "link-inside"), 3)
    assert by_rel["data/d5/deeper/still/x.txt"] == (str(tree / "d5/deeper/still/x.txt"), 4)


def test_a_name_that_is_not_utf8_comes_back_from_the_child_as_it_was(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a name is a str with a lone surrogate: it must survive ``marshal`` unchanged,
    so that the scan refuses it with the same sentence on one core or two."""
    last = _childs_last(tree)
    (tree / last / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1")
    one_core, _ = _walker(monkeypatch, may_fork=False)
    alone = one_core(tree)
    split, forks = _walker(monkeypatch, may_fork=True)
    assert split(tree) == alone and len(forks) == 1
    assert f"data/{last}/caf\udce9.txt" in {rel for rel, *_ in alone}
    with pytest.raises(InvalidInput, match="is not valid UTF-8"):
        scan.scan(str(tree), as_contents=False)


@pytest.mark.parametrize("may_fork", [False, True], ids=["one core", "split"])
@pytest.mark.parametrize(
    "plant, message",
    [
        (lambda where, outside: os.symlink(outside, where), "outside the folder being added"),
        (lambda where, outside: os.mkfifo(where), "is not a regular file"),
        (lambda where, outside: os.symlink(outside.parent, where), "outside the folder"),
    ],
    ids=["link out", "fifo", "link to a folder out"],
)
def test_what_the_childs_half_holds_is_refused_as_on_one_core(
    tree: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    may_fork: bool,
    plant: Callable[[Path, Path], None],
    message: str,
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    plant(tree / _childs_last(tree) / "bad", outside)
    walk, forks = _walker(monkeypatch, may_fork=may_fork)
    with pytest.raises(InvalidInput, match=message):
        walk(tree)
    assert len(forks) == int(may_fork)


def test_a_folder_swapped_for_a_link_in_the_childs_half_is_refused(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed as a folder, replaced by a link to one outside before it is opened: the walk
    opens folders with ``O_NOFOLLOW`` and stops there."""
    list_folder, last = scan._list_folder, _childs_last(tree)

    def swapping(folder: str, *rest):  # type: ignore[no-untyped-def]
        if folder.endswith(f"/{last}"):
            os.rename(folder, tmp_path / "elsewhere")
            os.symlink(tmp_path / "elsewhere", folder)
        return list_folder(folder, *rest)

    monkeypatch.setattr(scan, "_list_folder", swapping)
    walk, forks = _walker(monkeypatch, may_fork=True)
    with pytest.raises(InvalidInput, match=rf"cannot read folder '.*{last}': Not a directory"):
        walk(tree)
    assert len(forks) == 1


def test_a_folder_without_subfolders_is_walked_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_files(tmp_path / "flat", {f"f{n}": str(n) for n in range(5)})
    walk, forks = _walker(monkeypatch, may_fork=True)
    assert sorted(rel for rel, *_ in walk(root)) == [f"flat/f{n}" for n in range(5)]
    assert forks == []


def test_a_small_folder_is_walked_here_even_where_it_could_fork(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork costs about what walking 1,000 files does: small folders are not split."""
    walk, forks = _walker(monkeypatch, may_fork=True)
    monkeypatch.setattr(scan, "SPLIT_AT_LEAST", 1000)
    assert len(walk(tree)) == len(FILES) + 1
    assert forks == []

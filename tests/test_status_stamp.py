"""``status`` of an unchanged folder compares one stat digest; any doubt falls back to files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core import datasets
from assethub_ext.core.datasets import DraftChange
from assethub_ext.core.status import workspace_status
from assethub_ext.core.tree import Tree

DS = "alice/dataset/cv/digits"


def _status(hub: Hub, data: Path, *, tree_reads: list[str]) -> list[tuple[str, str]]:
    """Status of ``data``, noting every tree it had to read (the stamp path reads none)."""

    def load_tree(digest: str) -> Tree:
        tree_reads.append(digest)
        return hub.load_tree(digest)

    changes = workspace_status(DS, [str(data)], index=hub.index, load_tree=load_tree)
    return [(c.path, c.status) for c in changes]


def _age(root: Path, seconds: float = 5.0) -> None:
    """Back-date every file, so none is "racily clean" (modified just before being hashed)."""
    past = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "data", {"a.csv": "1,2\n", "sub/b.csv": "3,4\n", "c": "c"})
    _age(root)
    return root


def test_unchanged_folder_is_answered_without_reading_a_tree(hub: Hub, data: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    reads: list[str] = []
    assert _status(hub, data, tree_reads=reads) == []
    assert reads == []


def test_any_stat_change_falls_back_to_comparing_files(hub: Hub, data: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    reads: list[str] = []
    os.utime(data / "a.csv")  # touched, same bytes: not a change
    assert _status(hub, data, tree_reads=reads) == []
    assert len(reads) == 1

    stat = (data / "c").stat()
    (data / "c").write_text("C")  # same size; the old mtime put back: ctime still moves
    os.utime(data / "c", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _status(hub, data, tree_reads=[]) == [("data/c", "changed")]

    os.rename(data / "sub" / "b.csv", data / "sub" / "b2.csv")
    assert sorted(_status(hub, data, tree_reads=[])) == [
        ("data/c", "changed"),
        ("data/sub/b.csv", "removed"),
        ("data/sub/b2.csv", "added"),
    ]


def test_racily_clean_files_leave_no_stamp(hub: Hub, tmp_path: Path) -> None:
    fresh = write_files(tmp_path / "fresh", {"a.csv": "1"})
    soon = time.time() + 60  # as if written just before the scan, however slow this machine
    os.utime(fresh / "a.csv", (soon, soon))
    hub.create(DS)
    hub.add(DS, [str(fresh)])
    reads: list[str] = []
    assert _status(hub, fresh, tree_reads=reads) == []
    assert len(reads) == 1, "a file written within the racy margin must be compared, not trusted"


def test_a_later_add_replaces_the_stamp(hub: Hub, data: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    write_files(data, {"new.csv": "n"})
    _age(data)
    assert _status(hub, data, tree_reads=[]) == [("data/new.csv", "added")]
    hub.add(DS, [str(data)])
    reads: list[str] = []
    assert _status(hub, data, tree_reads=reads) == []
    assert reads == []
    (data / "new.csv").unlink()
    assert _status(hub, data, tree_reads=[]) == [("data/new.csv", "removed")]


@pytest.mark.parametrize("damage", ["removed", "garbled", "not ascii"])
def test_a_lost_or_damaged_stamp_only_costs_the_comparison_of_files(
    hub: Hub, data: Path, damage: str
) -> None:
    """Stamps are files beside the index: whatever happens to one, status stays right."""
    hub.create(DS)
    hub.add(DS, [str(data)])
    stamps = list(Path(hub.index.path + ".stamps").iterdir())
    assert len(stamps) == 1
    if damage == "removed":
        stamps[0].unlink()
    else:
        stamps[0].write_bytes(b"0" * 64 if damage == "garbled" else "é".encode())
    reads: list[str] = []
    assert _status(hub, data, tree_reads=reads) == []
    assert len(reads) == 1
    (data / "c").write_text("changed")
    assert _status(hub, data, tree_reads=[]) == [("data/c", "changed")]


# -- add: an unchanged folder added again ---------------------------------------------------


@pytest.fixture
def ingests(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of files each add handed to ``ingest`` (none: the stamp answered)."""
    calls: list[int] = []
    real = datasets.ingest

    def counting(files, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(files))
        return real(files, **kwargs)

    monkeypatch.setattr(datasets, "ingest", counting)
    return calls


def _added(change: DraftChange) -> list[tuple[str, str]]:
    return [(c.path, c.status) for c in change.changes]


def test_an_unchanged_folder_added_again_is_answered_by_its_stamp(
    hub: Hub, data: Path, ingests: list[int]
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    again = hub.add(DS, [str(data)])
    assert _added(again) == [] and again.files == 3 and again.hashed_bytes == 0
    assert ingests == [3], "the second add read the index or the files"


def test_a_file_removed_from_the_draft_comes_back_with_its_folder(
    hub: Hub, data: Path, ingests: list[int]
) -> None:
    """The draft moved since the folder was added: its stamp alone proves nothing."""
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.rm(DS, ["data/a.csv"])
    again = hub.add(DS, [str(data)])
    assert _added(again) == [("data/a.csv", "added")] and again.files == 3
    assert ingests == [3, 3]


def test_a_touched_file_is_compared_and_the_next_add_trusts_the_new_stamp(
    hub: Hub, data: Path, ingests: list[int]
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    _age(data / "sub", seconds=10)  # new stats, same bytes
    assert _added(hub.add(DS, [str(data)])) == []
    assert _added(hub.add(DS, [str(data)])) == []
    assert ingests == [3, 3], "the touched folder was not compared, or its new stamp not kept"


def test_a_changed_file_is_never_taken_for_the_stamped_one(
    hub: Hub, data: Path, ingests: list[int]
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    stat = (data / "c").stat()
    (data / "c").write_text("C")  # same size, the old mtime put back: ctime still moves
    os.utime(data / "c", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _added(hub.add(DS, [str(data)])) == [("data/c", "changed")]


def test_the_same_folder_for_another_dataset_or_under_another_name_is_added_in_full(
    hub: Hub, data: Path, tmp_path: Path, ingests: list[int]
) -> None:
    other = "alice/dataset/cv/other"
    hub.create(DS)
    hub.create(other)
    hub.add(DS, [str(data)])
    assert len(_added(hub.add(other, [str(data)]))) == 3
    alias = tmp_path / "alias"
    alias.symlink_to(data)
    assert {path for path, _ in _added(hub.add(DS, [str(alias)]))} == {
        "alias/a.csv",
        "alias/sub/b.csv",
        "alias/c",
    }
    assert ingests == [3, 3, 3]

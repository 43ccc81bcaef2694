"""Datasets: draft, publish, versions that never change, derive, restore, status."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import Conflict, InvalidInput, NotFound

DS = "alice/dataset/cv/digits"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_files(tmp_path / "data", {"a.csv": "1,2\n", "sub/b.csv": "3,4\n"})


def checkout_files(hub: Hub, ref: str, dest: Path) -> dict[str, bytes]:
    hub.checkout(ref, str(dest))
    return read_files(dest)


def test_add_publish_and_versions_never_change(hub: Hub, data: Path, tmp_path: Path) -> None:
    hub.create(DS)
    change = hub.add(DS, [str(data)])
    assert sorted(c.path for c in change.changes) == ["data/a.csv", "data/sub/b.csv"]
    assert str(hub.publish(DS, "first")) == f"{DS}:v1"

    (data / "a.csv").write_text("changed\n")
    write_files(data, {"c.csv": "5\n"})
    hub.add(DS, [str(data)])
    assert str(hub.publish(DS)) == f"{DS}:v2"

    v1 = checkout_files(hub, f"{DS}:v1", tmp_path / "v1")
    assert v1 == {"data/a.csv": b"1,2\n", "data/sub/b.csv": b"3,4\n"}
    main = checkout_files(hub, DS, tmp_path / "main")
    assert main["data/a.csv"] == b"changed\n" and "data/c.csv" in main


def test_adding_a_folder_mirrors_deletions_and_a_file_lands_under_its_name(
    hub: Hub, data: Path, tmp_path: Path
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    (data / "sub" / "b.csv").unlink()
    single = write_files(tmp_path / "loose", {"notes.txt": "hi"}) / "notes.txt"
    change = hub.add(DS, [str(data), str(single)])
    assert {(c.path, c.status) for c in change.changes} == {
        ("data/sub/b.csv", "removed"),
        ("notes.txt", "added"),
    }


def test_publish_refuses_an_unchanged_draft(hub: Hub, data: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.publish(DS)
    with pytest.raises(Conflict, match="nothing to publish"):
        hub.publish(DS)


def test_derive_makes_versions_a_graph(hub: Hub, data: Path, tmp_path: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.publish(DS)
    write_files(data, {"x.csv": "x"})
    hub.add(DS, [str(data)])
    hub.publish(DS)
    hub.derive(DS, "v1")
    hub.add(DS, [str(write_files(tmp_path / "extra", {"e.csv": "e"}))])
    v3 = hub.publish(DS)
    assert v3.version == "v3"
    shown = hub.show(f"{DS}:v3")
    assert shown["commit"].meta["derived_from"] == "v1"
    v1_commit = hub.show(f"{DS}:v1")["commit"].id
    assert shown["commit"].parents == (v1_commit,)
    assert "data/x.csv" not in checkout_files(hub, f"{DS}:v3", tmp_path / "v3")
    graph = hub.lineage(f"{DS}:v3")
    assert {"from": v1_commit, "to": shown["commit"].id, "kind": "parent"} in graph.edges


def test_derive_refuses_to_discard_unpublished_changes(
    hub: Hub, data: Path, tmp_path: Path
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.publish(DS)
    hub.add(DS, [str(write_files(tmp_path / "more", {"m": "m"}))])
    with pytest.raises(Conflict, match="unpublished changes"):
        hub.derive(DS, "v1")
    hub.derive(DS, "v1", force=True)
    assert hub.status(DS, [str(data)]) == []


def test_restore_brings_back_files_deleted_by_mistake(hub: Hub, data: Path, tmp_path: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.publish(DS)
    hub.rm(DS, ["data/sub"])
    assert "data/sub/b.csv" not in checkout_files(hub, f"{DS}:draft", tmp_path / "d1")
    change = hub.restore(DS, "v1", ["data/sub/b.csv"])
    assert [c.path for c in change.changes] == ["data/sub/b.csv"]
    assert checkout_files(hub, f"{DS}:draft", tmp_path / "d2")["data/sub/b.csv"] == b"3,4\n"
    with pytest.raises(NotFound):
        hub.restore(DS, "v1", ["data/missing.csv"])
    with pytest.raises(InvalidInput):
        hub.restore(DS, "draft", ["data/a.csv"])


def test_checkout_of_the_draft_is_snapshotted_and_reproducible(
    hub: Hub, data: Path, tmp_path: Path
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    first = hub.checkout(f"{DS}:draft", str(tmp_path / "one"))
    again = hub.checkout(f"{DS}:draft", str(tmp_path / "two"))
    assert first.commit_id == again.commit_id, "an unchanged draft reuses its snapshot"
    write_files(data, {"new.csv": "n"})
    hub.add(DS, [str(data)])
    later = hub.checkout(f"{DS}:draft", str(tmp_path / "three"))
    assert later.commit_id != first.commit_id
    snapshot = hub.checkout(f"{DS}:{first.commit_id[:10]}", str(tmp_path / "four"))
    assert read_files(tmp_path / "four") == read_files(tmp_path / "one")
    assert snapshot.commit_id == first.commit_id


def test_datasets_have_no_branches(hub: Hub, data: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    hub.publish(DS)
    with pytest.raises(InvalidInput, match="datasets have no branches"):
        hub.branch_create(f"{DS}:v1", "exp")
    with pytest.raises(InvalidInput, match="datasets have no branches"):
        hub.commit(f"{DS}:exp", str(data))


def test_noop_readd_reads_nothing_and_status_reports_changes(
    hub: Hub, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    import assethub_ext.core.workspace_index as wi

    monkeypatch.setattr(wi, "RACY_MARGIN_NS", -(10**12))  # files were written this very second
    hub.add(DS, [str(data)])  # records stats with a trusted hash time

    def no_reading(*args: object, **kwargs: object) -> str:
        raise AssertionError("an unchanged file was hashed again")

    monkeypatch.setattr("assethub_ext.storage.local.LocalObjectWriter.put_file", no_reading)
    monkeypatch.setattr("assethub_ext.core.status.hash_file", no_reading)
    again = hub.add(DS, [str(data)])
    assert not again.changed and again.hashed_bytes == 0 and again.stored_bytes == 0
    assert hub.status(DS, [str(data)]) == []
    monkeypatch.undo()

    (data / "a.csv").write_text("different\n")
    write_files(data, {"n.csv": "n"})
    (data / "sub" / "b.csv").unlink()
    assert {(c.path, c.status) for c in hub.status(DS, [str(data)])} == {
        ("data/a.csv", "changed"),
        ("data/n.csv", "added"),
        ("data/sub/b.csv", "removed"),
    }


def test_large_files_are_stored_once_and_deduplicated(hub: Hub, tmp_path: Path) -> None:
    big = b"\x01" * (3 * 1024 * 1024)
    data = write_files(tmp_path / "big", {"w1.bin": big, "copy/w2.bin": big, "s": "small"})
    hub.create(DS)
    change = hub.add(DS, [str(data)])
    assert change.hashed_bytes == len(big) * 2 + 5
    assert len(big) + 5 <= change.stored_bytes < len(big) + 5 + 4096  # one copy, plus the tree
    loose = [i for i in hub.objects.iter_objects() if not i.packed]
    assert [i.size for i in loose] == [len(big)]
    out = tmp_path / "out"
    hub.checkout(f"{DS}:draft", str(out))
    assert (out / "big" / "copy" / "w2.bin").read_bytes() == big


def test_describe_lists_versions_and_draft_state(hub: Hub, data: Path, tmp_path: Path) -> None:
    hub.create(DS, "digits")
    hub.add(DS, [str(data)])
    hub.publish(DS)
    info = hub.ls(DS)[0]
    assert info["description"] == "digits" and info["draft"]["base_version"] == "v1"
    assert not info["draft"]["unpublished_changes"]
    assert {(r["name"], r["kind"]) for r in info["refs"]} == {("v1", "version"), ("main", "latest")}
    hub.add(DS, [str(write_files(tmp_path / "n", {"n": "n"}))])
    assert hub.describe(DS)["draft"]["unpublished_changes"]
    with pytest.raises(InvalidInput):
        hub.ls(f"{DS}/extra")


def test_versions_cannot_be_moved_or_deleted_even_by_the_store_layer(
    hub: Hub, data: Path, tmp_path: Path
) -> None:
    hub.create(DS)
    hub.add(DS, [str(data)])
    v1 = hub.publish(DS)
    hub.add(DS, [str(write_files(tmp_path / "n", {"n": "n"}))])
    v2 = hub.publish(DS)
    from assethub_ext.core.errors import BranchMoved

    with hub.meta.write() as conn, pytest.raises(BranchMoved):
        asset = hub._asset(conn, hub._resolve(conn, DS).path)
        hub.meta.move_ref(conn, asset.id, "v1", v1.commit_id, v2.commit_id)
    with hub.meta.write() as conn:
        assert not hub.catalog.delete_ref(conn, asset.id, "v1", v1.commit_id)
    assert hub.show(f"{DS}:v1")["commit"].id == v1.commit_id

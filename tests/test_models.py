"""Models: commits on branches, tags, merges (fast-forward, merge commit, conflicts)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import (
    AlreadyExists,
    BranchMoved,
    Conflict,
    InvalidInput,
    MergeConflict,
    NotFound,
    PermissionDenied,
)

M = "alice/model/cls/net"


def commit(hub: Hub, tmp_path: Path, ref: str, files: dict[str, str], **kw: object) -> str:
    src = tmp_path / f"src-{len(list(tmp_path.iterdir()))}"
    write_files(src, files)
    return hub.commit(ref, str(src), **kw).id  # type: ignore[arg-type]


@pytest.fixture
def model(hub: Hub) -> Hub:
    hub.create(M)
    return hub


def test_commit_log_params_metrics(model: Hub, tmp_path: Path) -> None:
    first = commit(
        model, tmp_path, f"{M}:main", {"w.bin": "1"}, params={"lr": 0.1}, metrics={"acc": 0.5}
    )
    second = commit(
        model, tmp_path, f"{M}:main", {"w.bin": "2"}, message="more", metrics={"acc": 0.7}
    )
    log = model.log(M)
    assert [c.id for c in log] == [second, first]
    assert log[0].parents == (first,) and log[1].params == {"lr": 0.1}
    assert model.log(M, limit=1)[0].id == second
    diff = model.diff(f"{M}:{first[:8]}", f"{M}:main")
    assert [c.status for c in diff.changes] == ["changed"]
    assert diff.metrics == {"acc": (0.5, 0.7)} and diff.params == {"lr": (0.1, None)}


def test_commit_to_a_missing_branch_or_a_tag_is_refused(model: Hub, tmp_path: Path) -> None:
    commit(model, tmp_path, f"{M}:main", {"w": "1"})
    with pytest.raises(NotFound, match="branch create"):
        commit(model, tmp_path, f"{M}:nope", {"w": "2"})
    model.tag(M, "best")
    with pytest.raises(InvalidInput, match="commits go on branches"):
        commit(model, tmp_path, f"{M}:best", {"w": "2"})


def test_branch_create_list_delete_keeps_reachable_commits(model: Hub, tmp_path: Path) -> None:
    base = commit(model, tmp_path, f"{M}:main", {"w": "1"})
    assert model.branch_create(f"{M}:main", "exp") == base
    with pytest.raises(AlreadyExists):
        model.branch_create(f"{M}:main", "exp")
    tip = commit(model, tmp_path, f"{M}:exp", {"w": "2"})
    assert {b["name"]: b["commit"] for b in model.branch_list(M)} == {"main": base, "exp": tip}
    with pytest.raises(Conflict, match="no other branch or tag reaches"):
        model.branch_delete(M, "exp")
    model.tag(f"{M}:exp", "keep")
    model.branch_delete(M, "exp")
    assert model.show(f"{M}:keep")["commit"].id == tip
    with pytest.raises(Conflict):
        model.branch_delete(M, "main")
    for bad in ("v3", "draft", "../x", "a//b"):
        with pytest.raises(InvalidInput):
            model.branch_create(f"{M}:main", bad)


def test_tags_never_move(model: Hub, tmp_path: Path) -> None:
    first = commit(model, tmp_path, f"{M}:main", {"w": "1"})
    model.tag(M, "release")
    commit(model, tmp_path, f"{M}:main", {"w": "2"})
    with pytest.raises(AlreadyExists):
        model.tag(M, "release")
    assert model.show(f"{M}:release")["commit"].id == first


def test_compare_and_swap_refuses_a_stale_head(model: Hub, tmp_path: Path) -> None:
    head = commit(model, tmp_path, f"{M}:main", {"w": "1"})
    commit(model, tmp_path, f"{M}:main", {"w": "2"})
    with model.meta.write() as conn, pytest.raises(BranchMoved, match="branch 'main' moved"):
        asset = model._asset(conn, model._resolve(conn, M).path)
        model.meta.move_ref(conn, asset.id, "main", head, head)


def test_merge_fast_forward_and_up_to_date(model: Hub, tmp_path: Path) -> None:
    commit(model, tmp_path, f"{M}:main", {"w": "1"})
    model.branch_create(M, "trial")
    tip = commit(model, tmp_path, f"{M}:trial", {"w": "2"}, metrics={"acc": 0.9})
    result = model.merge(M, "trial")
    assert (result.kind, result.commit_id) == ("fast-forward", tip)
    assert model.merge(M, "trial").kind == "up-to-date"


def test_merge_commit_and_conflicts(model: Hub, tmp_path: Path) -> None:
    commit(model, tmp_path, f"{M}:main", {"shared": "0", "a": "a0", "b": "b0"})
    model.branch_create(M, "exp")
    commit(model, tmp_path, f"{M}:main", {"shared": "main", "a": "a1", "b": "b0"})
    commit(model, tmp_path, f"{M}:exp", {"shared": "exp", "a": "a0", "b": "b1", "new": "n"})
    with pytest.raises(MergeConflict) as conflict:
        model.merge(M, "exp")
    assert conflict.value.paths == ["shared"]
    result = model.merge(M, "exp", strategy="theirs")
    assert result.kind == "merge" and result.resolved == ["shared"]
    out = tmp_path / "merged"
    model.checkout(M, str(out))
    assert read_files(out) == {"a": b"a1", "b": b"b1", "new": b"n", "shared": b"exp"}
    assert len(model.show(M)["commit"].parents) == 2
    with pytest.raises(InvalidInput):
        model.merge(M, "exp", strategy="mine")


def test_lineage_records_inputs_code_patch_and_environment(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = "alice/dataset/cv/digits"
    hub.create(ds)
    hub.add(ds, [str(write_files(tmp_path / "data", {"x": "1"}))])
    v1 = hub.publish(ds)
    repo = tmp_path / "code"
    write_files(repo, {"train.py": "print(1)\n"})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "c"], check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    hub.create(M)
    made = hub.commit(
        f"{M}:main", str(write_files(tmp_path / "w", {"w": "1"})), inputs=[ds + ":v1"]
    )
    lineage = made.lineage
    assert lineage["inputs"] == [{"ref": f"{ds}:v1", "asset": ds, "commit": v1.commit_id}]
    assert lineage["code"]["dirty"] is True
    patch = hub.objects.read_bytes(lineage["code"]["patch"])
    assert b"+print(2)" in patch
    assert lineage["environment"]["python"]
    down = hub.lineage(f"{ds}:v1", up=False, down=True)
    assert {"from": v1.commit_id, "to": made.id, "kind": "input"} in down.edges
    with pytest.raises(InvalidInput):
        hub.lineage(M, depth=0)


def test_a_kept_lineage_walk_follows_moved_refs_new_commits_and_deleted_inputs(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """The hub keeps each walk; what it answers equals a fresh hub's walk after every change."""
    hub, ds = make_hub("alice"), "alice/dataset/cv/digits"
    hub.create(ds)
    hub.add(ds, [str(write_files(tmp_path / "data", {"x": "1"}))])
    v1 = hub.publish(ds).commit_id
    hub.create(M)
    first = commit(hub, tmp_path, f"{M}:main", {"w": "1"}, inputs=[f"{ds}:v1"])

    def both() -> dict[str, object]:
        graph = hub.lineage(f"{M}:{first}", up=True, down=True, depth=3)
        assert graph == make_hub("alice").lineage(f"{M}:{first}", up=True, down=True, depth=3)
        return {n["id"]: n.get("refs", "missing") for n in graph.nodes.values()}

    assert both() == {first: ["main"], v1: ["main", "v1"]}
    hub.branch_create(f"{M}:main", "exp")
    second = commit(hub, tmp_path, f"{M}:main", {"w": "2"})
    assert both() == {first: ["exp"], v1: ["main", "v1"], second: ["main"]}
    hub.delete(ds, force=True)
    assert both() == {first: ["exp"], v1: "missing", second: ["main"]}


def test_every_write_transaction_is_counted_once_and_nothing_else_is(
    make_hub: Callable[..., Hub],
) -> None:
    """The count a kept lineage graph is checked against: one per committed write."""
    hub = make_hub("alice")
    hub.create(M)

    def writes() -> int:
        with hub.meta.read() as conn:
            return hub.meta.writes(conn)

    before = writes()
    with hub.meta.write():
        pass
    assert writes() == before + 1
    with pytest.raises(InvalidInput), hub.meta.write() as conn:
        hub.catalog.insert_folder(conn, "alice", "model", "gone", "alice")
        raise InvalidInput("given up halfway")
    with hub.meta.read() as conn:
        assert hub.catalog.folder(conn, "alice", "model", "gone") is None
    hub.ls()
    hub.branch_list(M)
    make_hub("bob").init()  # opening a hub migrates nothing more and writes nothing
    assert writes() == before + 1


def test_a_kept_lineage_follows_writes_of_another_process(
    make_hub: Callable[..., Hub],
    cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """A new child commit, a branch deleted, a grant: made by the CLI, seen by a kept graph."""
    hub = make_hub("alice")
    hub.create(M)
    first = commit(hub, tmp_path, f"{M}:main", {"w": "1"})
    hub.branch_create(f"{M}:main", "exp")

    def refs_by_node(viewer: Hub) -> dict[str, object]:
        graph = viewer.lineage(f"{M}:{first}", up=True, down=True, depth=3)
        return {n["id"]: n.get("refs", "restricted") for n in graph.nodes.values()}

    assert refs_by_node(hub) == {first: ["exp", "main"]}
    assert refs_by_node(hub) == {first: ["exp", "main"]}  # kept
    write_files(tmp_path / "w2", {"w": "2"})
    assert cli("commit", f"{M}:exp", str(tmp_path / "w2")).returncode == 0
    child = hub.resolve(f"{M}:exp").commit_id
    assert refs_by_node(hub) == {first: ["main"], child: ["exp"]}
    assert cli("branch", "delete", M, "exp", "--force").returncode == 0
    assert refs_by_node(hub) == {first: ["main"], child: []}
    bob = hub.as_user("bob")  # shares the kept graphs: each user's are kept apart
    with pytest.raises(PermissionDenied):
        refs_by_node(bob)
    assert cli("share", "alice/model/cls", "bob", "read").returncode == 0
    assert refs_by_node(bob) == {first: ["main"], child: []}
    assert cli("share", "alice/model/cls", "bob", "none").returncode == 0
    with pytest.raises(PermissionDenied):
        refs_by_node(bob)


def test_lineage_sees_a_package_installed_while_the_process_runs(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Package versions are looked up once per process, and again after an install."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    hub.create(M)
    before = commit(hub, tmp_path, f"{M}:main", {"w": "1"})
    assert (
        hub.show(f"{M}:{before}")["commit"].lineage["environment"]["packages"].get("paddlepaddle")
        != "9.9.9"
    )
    write_files(
        site, {"paddlepaddle-9.9.9.dist-info/METADATA": "Name: paddlepaddle\nVersion: 9.9.9\n"}
    )
    after = commit(hub, tmp_path, f"{M}:main", {"w": "2"})
    packages = hub.show(f"{M}:{after}")["commit"].lineage["environment"]["packages"]
    assert packages["paddlepaddle"] == "9.9.9"
    assert packages["optuna"]  # the others are still there


def test_commit_to_a_new_branch_when_asked(model: Hub, tmp_path: Path) -> None:
    first = commit(model, tmp_path, "alice/model/cls/net:main", {"w.bin": "1"})
    made = model.commit(
        "alice/model/cls/net:sweeps/s1/t0000",
        str(write_files(tmp_path / "t0", {"w.bin": "2"})),
        create_branch=True,
    )
    assert made.parents == () and first != made.id
    with pytest.raises(InvalidInput):
        model.commit("alice/model/cls/net:v3", str(tmp_path / "t0"), create_branch=True)


def test_commit_tree_shares_the_source_tree_and_records_it(
    model: Hub, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """PBT's exploit: the loser's branch gets the donor's files, copying no bytes."""
    donor = commit(model, tmp_path, "alice/model/cls/net:main", {"w.bin": "donor" * 1000})
    loser = model.commit(
        "alice/model/cls/net:loser",
        str(write_files(tmp_path / "l", {"w.bin": "loser"})),
        create_branch=True,
    )
    before = sum(1 for _ in model.objects.iter_objects())
    made = model.commit_tree(
        "alice/model/cls/net:loser",
        f"alice/model/cls/net:{donor[:12]}",
        params={"lr": 0.1},
        metadata={"sweep": {"event": "exploit"}},
    )
    assert made.tree == model.resolve_commit(f"{M}:{donor}")[1].tree
    assert made.parents == (loser.id,) and made.params == {"lr": 0.1}
    assert donor in {i["commit"] for i in made.lineage["inputs"]}
    assert sum(1 for _ in model.objects.iter_objects()) == before  # the lineage adds nothing
    fresh = model.commit_tree("alice/model/cls/net:new-branch", f"alice/model/cls/net:{donor}")
    assert fresh.parents == ()
    bob = make_hub("bob")
    with pytest.raises(PermissionDenied):
        bob.commit_tree("alice/model/cls/net:loser", f"alice/model/cls/net:{donor}")
    with pytest.raises(NotFound):
        model.commit_tree("alice/model/cls/net:loser", "alice/model/cls/net:nope")
    with pytest.raises(InvalidInput):
        model.commit_tree("alice/model/cls/net:../x", f"alice/model/cls/net:{donor}")

"""Folder permissions, enforced in the core for every caller."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core.errors import InUse, InvalidInput, NotFound, PermissionDenied

DS = "alice/dataset/cv/digits"
BOB_MODEL = "bob/model/cls/net"


@pytest.fixture
def shared(make_hub: Callable[..., Hub], tmp_path: Path) -> tuple[Hub, Hub, Path]:
    alice, bob = make_hub("alice"), make_hub("bob")
    alice.create(DS)
    alice.add(DS, [str(write_files(tmp_path / "data", {"x": "1"}))])
    alice.publish(DS)
    bob.create(BOB_MODEL)
    return alice, bob, tmp_path


def test_others_see_nothing_until_shared(shared: tuple[Hub, Hub, Path]) -> None:
    _, bob, tmp = shared
    assert bob.ls() == [
        {"path": "bob/model/cls", "kind": "folder", "type": "model", "owner": "bob", "assets": 1}
    ]
    with pytest.raises(PermissionDenied, match="ask its owner 'alice'"):
        bob.log(DS)
    with pytest.raises(PermissionDenied):
        bob.checkout(DS, str(tmp / "co"))
    with pytest.raises(PermissionDenied, match="only 'alice' can create"):
        bob.create("alice/dataset/other")


def test_read_lets_you_look_but_not_use_or_change(shared: tuple[Hub, Hub, Path]) -> None:
    alice, bob, tmp = shared
    alice.share("alice/dataset/cv", "bob", "read")
    assert bob.log(DS) and bob.checkout(DS, str(tmp / "co")).commit_id
    with pytest.raises(PermissionDenied, match="may not run"):
        bob.commit(f"{BOB_MODEL}:main", str(write_files(tmp / "w", {"w": "1"})), inputs=[DS])
    with pytest.raises(PermissionDenied, match="may not edit"):
        bob.add(DS, [str(tmp / "w")])


def test_run_lets_you_use_as_input_and_edit_lets_you_change(shared: tuple[Hub, Hub, Path]) -> None:
    alice, bob, tmp = shared
    alice.share("alice/dataset/cv", "bob", "run")
    bob.commit(f"{BOB_MODEL}:main", str(write_files(tmp / "w", {"w": "1"})), inputs=[DS])
    with pytest.raises(PermissionDenied):
        bob.publish(DS)
    alice.share("alice/dataset/cv", "bob", "edit")
    bob.add(DS, [str(write_files(tmp / "more", {"m": "m"}))])
    assert bob.publish(DS).version == "v2"
    with pytest.raises(PermissionDenied, match="only 'alice' can share"):
        bob.share("alice/dataset/cv", "carol", "read")
    alice.share("alice/dataset/cv", "bob", None)
    with pytest.raises(PermissionDenied):
        bob.log(DS)


def test_lineage_shows_only_an_id_where_the_caller_may_not_read(
    shared: tuple[Hub, Hub, Path],
) -> None:
    """Bob's private model made from Alice's data: Alice's downstream walk reaches it."""
    alice, bob, tmp = shared
    alice.share("alice/dataset/cv", "bob", "run")
    bob.commit(
        f"{BOB_MODEL}:main", str(write_files(tmp / "w", {"w": "1"})), inputs=[DS], message="secret"
    )
    model_id = bob.resolve_commit(f"{BOB_MODEL}:main")[1].id
    hidden = alice.lineage(DS, up=False, down=True).nodes[model_id]
    assert hidden == {"id": model_id, "restricted": True}
    assert bob.lineage(f"{BOB_MODEL}:main").nodes[model_id]["message"] == "secret"
    bob.share("bob/model/cls", "alice", "read")
    shown = alice.lineage(DS, up=False, down=True).nodes[model_id]
    assert shown["asset"] == BOB_MODEL and shown["message"] == "secret"


def test_everyone_grant_and_delete_refused_while_in_use(shared: tuple[Hub, Hub, Path]) -> None:
    alice, bob, tmp = shared
    alice.share("alice/dataset/cv", "*", "run")
    bob.commit(f"{BOB_MODEL}:main", str(write_files(tmp / "w", {"w": "1"})), inputs=[DS])
    with pytest.raises(InUse, match="is an input"):
        alice.delete(DS)
    with pytest.raises(InUse):
        alice.delete("alice/dataset/cv")
    alice.delete(DS, force=True)
    assert alice.ls("alice/dataset/cv") == []


# -- groups ---------------------------------------------------------------------------------


def test_a_group_grant_reaches_exactly_its_members(
    shared: tuple[Hub, Hub, Path], make_hub: Callable[..., Hub]
) -> None:
    alice, bob, _ = shared
    carol = make_hub("carol")
    with pytest.raises(NotFound, match="group 'cv' does not exist"):
        alice.share("alice/dataset/cv", "@cv", "read")
    assert carol.group_add("cv", ["bob"]) == {"group": "cv", "owner": "carol", "members": ["bob"]}
    alice.share("alice/dataset/cv", "@cv", "run")
    assert bob.show(DS)["commit"].tree
    bob.commit(f"{BOB_MODEL}:main", str(shared[2] / "data"), inputs=[DS])  # run: an input
    with pytest.raises(PermissionDenied, match=r"\(granted: run\)"):
        bob.tag(f"{DS}:v1", "t")
    with pytest.raises(PermissionDenied, match="may not access"):
        make_hub("dave").show(DS)
    assert alice.grants("alice/dataset/cv")["grants"] == [{"principal": "@cv", "level": "run"}]
    carol.group_rm("cv", ["bob"])
    with pytest.raises(PermissionDenied, match="may not access"):
        bob.show(DS)


def test_only_a_groups_owner_changes_it_and_deleting_it_revokes_its_grants(
    shared: tuple[Hub, Hub, Path],
) -> None:
    alice, bob, _ = shared
    alice.group_add("team", ["bob"])
    alice.share("alice/dataset/cv", "@team", "read")
    for change in (lambda: bob.group_add("team", ["eve"]), lambda: bob.group_rm("team")):
        with pytest.raises(PermissionDenied, match="only 'alice' can change group 'team'"):
            change()
    assert alice.group_ls() == [{"group": "team", "owner": "alice", "members": ["bob"]}]
    assert alice.group_rm("team") is None
    assert alice.grants("alice/dataset/cv")["grants"] == []
    bob.group_add("team", ["bob"])  # a new group of that name inherits nothing
    with pytest.raises(PermissionDenied):
        bob.show(DS)
    with pytest.raises(NotFound):
        alice.group_rm("nope")


@pytest.mark.parametrize("bad", ["@", "@../x", "@a b", "@/etc", "../bob", "", "@" + "x" * 70])
def test_malformed_principals_are_refused(shared: tuple[Hub, Hub, Path], bad: str) -> None:
    alice, _, _ = shared
    with pytest.raises(InvalidInput):
        alice.share("alice/dataset/cv", bad, "read")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 65])
def test_malformed_group_and_member_names_are_refused(
    shared: tuple[Hub, Hub, Path], bad: str
) -> None:
    alice, _, _ = shared
    with pytest.raises(InvalidInput):
        alice.group_add(bad, ["bob"])
    with pytest.raises(InvalidInput):
        alice.group_add("ok", [bad])
    assert alice.group_ls() == []


def test_groups_over_the_command_line(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    assert cli("create", "alice/dataset/cv/digits").returncode == 0
    added = cli("group", "add", "cv", "bob", "carol")
    assert added.returncode == 0 and added.stdout.strip() == "@cv: bob, carol"
    assert cli("share", "alice/dataset/cv", "@cv", "read").stdout.strip() == "@cv: read"
    assert cli("ls", "alice/dataset/cv", user="carol").returncode == 0
    assert cli("ls", "alice/dataset/cv", user="dave").returncode == 1
    refused = cli("group", "rm", "cv", "bob", user="bob")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: only 'alice' can change group 'cv'."
    bad = cli("share", "alice/dataset/cv", "@../x", "read")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    listed = json.loads(cli("group", "ls", "--json").stdout)
    assert listed == [{"group": "cv", "owner": "alice", "members": ["bob", "carol"]}]
    assert cli("group", "rm", "cv").stdout.strip() == "group 'cv' deleted"
    assert cli("ls", "alice/dataset/cv", user="carol").returncode == 1

"""Folder permissions, enforced in the core for every caller."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core.errors import InUse, PermissionDenied

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

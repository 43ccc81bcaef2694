"""Tree encodings: the current one (canonical JSON, stored as it is) and the legacy one
(the same JSON, zlib-compressed), which hubs made before the change still hold."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import read_files, write_files
from sqlalchemy import update

from assethub_ext import Hub
from assethub_ext.core.errors import Conflict, IntegrityError
from assethub_ext.core.tree import Tree, TreeEntry, is_legacy_encoding
from assethub_ext.storage.metadata import settings

DS = "alice/dataset/cv/digits"


def legacy_encode(tree: Tree) -> bytes:
    """What ``Tree.encode`` wrote before: a different digest for the same entries."""
    document = {"format": "assethub.tree.v1", "entries": [list(e) for e in tree.values()]}
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def test_the_encoding_is_the_canonical_json_itself() -> None:
    tree = Tree([TreeEntry("b", "e" * 64, 7), TreeEntry("a", "f" * 64, 0)])
    encoded = tree.encode()
    assert encoded == (
        b'{"format":"assethub.tree.v2","entries":'
        + f'[["a","{"f" * 64}",0,33188],["b","{"e" * 64}",7,33188]]}}'.encode()
    )
    assert not is_legacy_encoding(encoded) and is_legacy_encoding(legacy_encode(tree))


def test_a_legacy_tree_decodes_to_the_same_entries() -> None:
    tree = Tree([TreeEntry("d/x.bin", "1" * 64, 3, 0o100755), TreeEntry("y", "2" * 64, 0)])
    assert Tree.decode(legacy_encode(tree)) == tree == Tree.decode(tree.encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"format":"assethub.tree.v1","entries":[]}',  # a legacy label, uncompressed
        zlib.compress(b'{"format":"assethub.tree.v2","entries":[]}'),  # compressed, new label
        zlib.compress(b'["not", "an", "object"]'),
        b'{"format":"assethub.tree.v2","entries":[]',  # cut short
        b"\x78\x01garbage",
    ],
)
def test_bytes_in_neither_encoding_are_refused_as_corrupt(data: bytes) -> None:
    with pytest.raises(IntegrityError, match="unreadable"):
        Tree.decode(data)


@pytest.fixture
def legacy_hub(
    make_hub: Callable[..., Hub], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Hub:
    """A hub whose ``v1`` of DS was published by a version that wrote legacy trees (schema
    5), then opened by this one, which migrates it (and, as a fresh process would, decodes
    the stored tree rather than reuse a cached one)."""
    data = write_files(tmp_path / "data", {"a.csv": "1,2\n", "sub/b.csv": "3,4\n"})
    old = make_hub()
    old.create(DS)
    with monkeypatch.context() as patch:
        patch.setattr(Tree, "encode", legacy_encode)
        old.add(DS, [str(data)])
        old.publish(DS)
    return _reopened_as_schema_5(old, make_hub)


def _reopened_as_schema_5(old: Hub, make_hub: Callable[..., Hub]) -> Hub:
    """``old`` as a hub last written by schema 5, opened (and so migrated) again."""
    with old.meta.write() as conn:
        conn.execute(update(settings).where(settings.c.key == "schema_version").values(value="5"))
    old.close()
    hub = make_hub()
    with hub.meta.read() as conn:
        assert hub.meta.holds_legacy_trees(conn)
    return hub


def test_a_hub_of_models_alone_is_marked_too(
    make_hub: Callable[..., Hub], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model's commits hold trees too, though no draft does."""
    old = make_hub()
    old.create("alice/model/cls/net")
    with monkeypatch.context() as patch:
        patch.setattr(Tree, "encode", legacy_encode)
        old.commit("alice/model/cls/net:main", str(write_files(tmp_path / "m", {"w": "1"})))
    _reopened_as_schema_5(old, make_hub)


def _undo_a_change(hub: Hub, tmp_path: Path) -> tuple[str, str]:
    """Add a file and remove it again: the draft lists v1's files, in the new encoding."""
    extra = write_files(tmp_path / "extra", {"c.csv": "5\n"})
    hub.add(DS, [str(extra / "c.csv")])
    hub.rm(DS, ["c.csv"])
    with hub.meta.read() as conn:
        _, draft = hub._dataset(conn, DS, "read")
        base = hub._commit(conn, draft.base_commit or "").tree
    return base, draft.tree


def test_a_draft_equal_to_a_legacy_version_has_nothing_to_publish(
    legacy_hub: Hub, tmp_path: Path
) -> None:
    base, draft = _undo_a_change(legacy_hub, tmp_path)
    with legacy_hub.meta.read() as conn:
        assert base != draft and legacy_hub.same_files(conn, base, draft)
    assert not legacy_hub.describe(DS)["draft"]["unpublished_changes"]
    with pytest.raises(Conflict, match="identical to v1"):
        legacy_hub.publish(DS)
    legacy_hub.derive(DS, from_ref="v1")  # no unpublished changes to protect


def test_a_draft_that_differs_from_a_legacy_version_publishes(
    legacy_hub: Hub, tmp_path: Path
) -> None:
    write_files(tmp_path / "more", {"c.csv": "5\n"})
    legacy_hub.add(DS, [str(tmp_path / "more" / "c.csv")])
    assert legacy_hub.describe(DS)["draft"]["unpublished_changes"]
    assert str(legacy_hub.publish(DS)) == f"{DS}:v2"
    legacy_hub.checkout(f"{DS}:v1", str(tmp_path / "v1"))
    assert read_files(tmp_path / "v1") == {"data/a.csv": b"1,2\n", "data/sub/b.csv": b"3,4\n"}


def test_two_current_trees_are_compared_by_digest_alone(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unequal current digests are different files, decided without decoding either tree."""
    hub.create(DS)
    hub.add(DS, [str(write_files(tmp_path / "one", {"a": "1"}))])
    first = hub.publish(DS)
    hub.add(DS, [str(write_files(tmp_path / "two", {"b": "2"}))])
    second = hub.publish(DS)
    with hub.meta.read() as conn:
        a, b = (hub._commit(conn, p.commit_id).tree for p in (first, second))
        assert not hub.meta.holds_legacy_trees(conn)  # a hub made now holds none
        monkeypatch.setattr(hub, "load_tree", pytest.fail)
        monkeypatch.setattr(hub.objects, "read_range", pytest.fail)
        assert not hub.same_files(conn, a, b)


def test_a_hub_filled_from_a_legacy_hub_compares_its_trees_by_entries(
    legacy_hub: Hub, tmp_path: Path
) -> None:
    """A pull brings legacy trees into a hub made now, and the mark that they may be there."""
    other = Hub(str(tmp_path / "other"), user="alice")
    try:
        other.init()
        other.remotes.add("old", legacy_hub.config.db_url, legacy_hub.config.store)
        with other.meta.read() as conn:
            assert not other.meta.holds_legacy_trees(conn)
        assert other.pull("old").assets == [DS]
        with other.meta.read() as conn:
            assert other.meta.holds_legacy_trees(conn)
        _undo_a_change(other, tmp_path)
        with pytest.raises(Conflict, match="identical to v1"):
            other.publish(DS)
    finally:
        other.close()

"""Browsing through the Python API: paged listings, refs, file reads, grants, per-user copies."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core.errors import InvalidInput, NotFound, PermissionDenied
from assethub_ext.core.names import parse_asset_path
from assethub_ext.core.paging import Page, encode_cursor

M = "alice/model/cls/net"
DS = "alice/dataset/cv/digits"


def commit(hub: Hub, tmp_path: Path, ref: str, files: dict[str, str | bytes]) -> str:
    src = tmp_path / f"src-{len(list(tmp_path.iterdir()))}"
    return hub.commit(ref, str(write_files(src, files))).id


def all_pages(fetch: Callable[[str | None], Page]) -> list:  # type: ignore[type-arg]
    items, cursor = [], None
    while True:
        page = fetch(cursor)
        items += page.items
        if page.next is None:
            return items
        cursor = page.next


def test_log_pages_follow_the_whole_log_through_merges(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    for i in range(7):
        commit(hub, tmp_path, f"{M}:main", {"w": str(i)})
    hub.branch_create(f"{M}:main", "exp")
    for i in range(4):
        commit(hub, tmp_path, f"{M}:exp", {"w": "6", "e": str(i)})
        commit(hub, tmp_path, f"{M}:main", {"w": f"m{i}"})
    hub.merge(M, "exp")
    whole = [c.id for c in hub.log(M)]
    for size in (1, 3, 100):
        paged = all_pages(lambda cur, n=size: hub.log_page(M, limit=n, cursor=cur))
        assert [c.id for c in paged] == whole
    assert hub.log_page(f"{M}:exp", limit=100).items[0].id == hub.log(f"{M}:exp")[0].id


def test_a_skewed_clock_lists_no_commit_twice_across_pages(hub: Hub) -> None:
    """B was stamped later than its child A; the merge M reaches B both directly and via A."""
    hub.create(M)
    with hub.meta.write() as conn:
        asset = hub._asset(conn, parse_asset_path(M), "edit")
        made: dict[str, str] = {}
        for name, when, parents in (
            ("R", 1, []),
            ("B", 20, ["R"]),
            ("A", 10, ["B"]),
            ("M", 30, ["A", "B"]),
        ):
            row = hub._make_commit(
                asset,
                kind="commit",
                tree="0" * 64,  # the log never reads trees
                parents=[made[p] for p in parents],
                message=name,
            )
            hub.meta.insert_commit(conn, dataclasses.replace(row, created_at=float(when)))
            made[name] = row.id
        hub.meta.create_ref(conn, asset.id, "main", "branch", made["M"])
    for size in (1, 2, 3, 100):
        paged = all_pages(lambda cur, n=size: hub.log_page(M, limit=n, cursor=cur))
        assert [c.message for c in paged] == ["M", "A", "B", "R"], size


def test_log_cursors_are_checked(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    hub.create("alice/model/cls/other")
    for i in range(3):
        commit(hub, tmp_path, f"{M}:main", {"w": str(i)})
    foreign = commit(hub, tmp_path, "alice/model/cls/other:main", {"x": "1"})
    page = hub.log_page(M, limit=1)
    assert page.next is not None
    for bad in (
        "not base64!",
        base64.urlsafe_b64encode(b"t:whatever").decode(),  # another listing's cursor
        encode_cursor("l", foreign),  # a commit of another asset
        encode_cursor("l", "0" * 64),
        encode_cursor("l", "../../etc/passwd"),
        encode_cursor("l", ",".join([page.items[0].id] * 65)),
        "x" * 10000,
    ):
        with pytest.raises(InvalidInput, match="cursor is not valid"):
            hub.log_page(M, limit=1, cursor=bad)
    for limit in (0, 1001, -1):
        with pytest.raises(InvalidInput, match="limit"):
            hub.log_page(M, limit=limit)


def test_pages_made_from_a_resolution_are_those_of_its_ref_for_its_user_only(
    hub: Hub, tmp_path: Path
) -> None:
    """The server resolves a ref once (checking access before its cache) and pages from that."""
    hub.create(M)
    for i in range(3):
        commit(hub, tmp_path, f"{M}:main", {"w": str(i)})
    resolved = hub.resolve(M)
    assert hub.log_page(resolved, limit=2) == hub.log_page(M, limit=2)
    assert hub.tree_page(resolved) == hub.tree_page(M)
    hub.share("alice/model/cls", "bob", "read")
    bob = hub.as_user("bob")
    assert bob.log_page(M, limit=2) == hub.log_page(M, limit=2)
    with pytest.raises(PermissionDenied, match="resolved for 'alice', not 'bob'"):
        bob.log_page(resolved)
    with pytest.raises(PermissionDenied, match="resolved for 'alice'"):
        bob.tree_page(resolved)


def test_tree_pages_prefixes_and_totals(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    files: dict[str, str | bytes] = {f"d{i % 3}/f{i:02}": str(i) for i in range(20)}
    files["top"] = "t"
    commit(hub, tmp_path, f"{M}:main", files)
    pages = all_pages(lambda cur: hub.tree_page(M, limit=6, cursor=cur)[1])
    assert [e.path for e in pages] == sorted(files)
    commit_row, page = hub.tree_page(M, prefix="d1/", limit=100)
    assert commit_row.id == hub.log(M)[0].id
    assert [e.path for e in page.items] == sorted(p for p in files if p.startswith("d1/"))
    assert page.total == len(page.items) and page.next is None
    assert hub.tree_page(M, prefix="d1", limit=2)[1].total == page.total
    for prefix in ("../etc", "/abs", "d1/../../x", "a\x00b"):
        with pytest.raises(InvalidInput):
            hub.tree_page(M, prefix=prefix)
    with pytest.raises(InvalidInput, match="cursor"):
        hub.tree_page(M, cursor=encode_cursor("l", "x"))
    with pytest.raises(InvalidInput):
        hub.tree_page(M, cursor=encode_cursor("t", "../x"))


def test_open_file_streams_ranges_of_small_and_large_files(hub: Hub, tmp_path: Path) -> None:
    hub.create(M)
    big = bytes(range(256)) * 8192  # 2 MiB: a loose object, streamed from its file
    commit(hub, tmp_path, f"{M}:main", {"small.txt": "hello world", "big.bin": big})
    small = hub.open_file(M, "small.txt")
    assert small.size == 11 and b"".join(small.read(0, 11)) == b"hello world"
    assert b"".join(small.read(6, 11)) == b"world"
    blob = hub.open_file(M, "big.bin")
    assert blob.size == len(big) and b"".join(blob.read(0, blob.size)) == big
    assert b"".join(blob.read(1_000_000, 1_100_000)) == big[1_000_000:1_100_000]
    with pytest.raises(InvalidInput, match="outside"):
        blob.read(0, blob.size + 1)
    with pytest.raises(NotFound):
        hub.open_file(M, "nope.txt")
    for hostile in ("../small.txt", "/etc/passwd", "a/./b", ""):
        with pytest.raises(InvalidInput):
            hub.open_file(M, hostile)


def test_find_assets_filters_pages_and_permissions(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    alice, bob = make_hub("alice"), make_hub("bob")
    names = [f"alice/model/f{i % 2}/m{i}" for i in range(7)]
    for name in names:
        alice.create(name, description="a digits model" if name.endswith("3") else "")
    alice.create(DS)
    bob.create("bob/model/mine/net")
    mine = all_pages(lambda cur: alice.find_assets(limit=2, cursor=cur))
    assert [a["path"] for a in mine] == sorted([*names, DS])
    assert [a["path"] for a in alice.find_assets(type="dataset").items] == [DS]
    assert [a["path"] for a in alice.find_assets(text="DIGITS").items] == [DS, names[3]]
    assert len(alice.find_assets(owner="alice", folder="f0").items) == 4
    assert [a["path"] for a in bob.find_assets().items] == ["bob/model/mine/net"]
    alice.share("alice/model/f1", "bob", "read")
    seen = all_pages(lambda cur: bob.find_assets(limit=1, cursor=cur))
    shared = sorted(n for n in names if "/f1/" in n)
    assert [a["path"] for a in seen] == [*shared, "bob/model/mine/net"]
    for bad in ({"owner": "../x"}, {"type": "movie"}, {"folder": ""}, {"text": "x" * 201}):
        with pytest.raises(InvalidInput):
            alice.find_assets(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="cursor"):
        alice.find_assets(cursor=encode_cursor("a", "not/a/path/../x"))


def test_refs_show_published_versions_the_draft_and_derivation(hub: Hub, tmp_path: Path) -> None:
    hub.create(DS)
    hub.add(DS, [str(write_files(tmp_path / "data", {"x": "1"}))])
    hub.publish(DS)
    hub.add(DS, [str(write_files(tmp_path / "data", {"x": "2"}))])
    hub.publish(DS)
    hub.derive(DS, "v1")
    hub.add(DS, [str(write_files(tmp_path / "more", {"y": "3"}))])
    hub.publish(DS)
    hub.add(DS, [str(write_files(tmp_path / "late", {"z": "4"}))])
    info = hub.refs(DS)
    by_name = {r["name"]: r for r in info["refs"]}
    assert by_name["v3"]["derived_from"] == "v1" and by_name["v2"]["derived_from"] == "v1"
    assert all(r["published"] for r in info["refs"])
    assert info["draft"]["base_version"] == "v3" and info["draft"]["unpublished_changes"]
    assert hub.describe(DS)["refs"] == info["refs"]


def test_grants_are_listed_to_readers_only(make_hub: Callable[..., Hub]) -> None:
    alice, bob = make_hub("alice"), make_hub("bob")
    alice.create("alice/dataset/cv")
    with pytest.raises(PermissionDenied):
        bob.grants("alice/dataset/cv")
    alice.share("alice/dataset/cv", "bob", "run")
    alice.share("alice/dataset/cv", "*", "read")
    expected = [{"principal": "*", "level": "read"}, {"principal": "bob", "level": "run"}]
    assert bob.grants("alice/dataset/cv")["grants"] == expected
    with pytest.raises(InvalidInput):
        alice.grants("alice/dataset/cv/x")
    with pytest.raises(NotFound):
        alice.grants("alice/dataset/none")


def test_as_user_shares_the_stores_and_checks_the_name(hub: Hub) -> None:
    hub.create(M)
    bob = hub.as_user("bob")
    assert bob.user == "bob" and hub.user == "alice"
    assert bob.meta is hub.meta and bob.objects is hub.objects
    with pytest.raises(PermissionDenied):
        bob.log(M)
    with pytest.raises(InvalidInput, match="user name"):
        hub.as_user("../root")


def test_log_pages_and_commit_reads_carry_every_field_as_written(hub: Hub) -> None:
    """Params, metrics, metadata, lineage and parents (in their order) read back unchanged,
    whatever the engine orders a page's rows by: a page is one query of commits joined
    with their parents, decoded in one call."""
    hub.create(M)
    with hub.meta.write() as conn:
        asset = hub._asset(conn, parse_asset_path(M), "edit")
        written: list = []  # type: ignore[type-arg]
        for i, parents in enumerate(([], [0], [0], [2, 1], [3])):
            row = hub._make_commit(
                asset,
                kind="snapshot" if i == 1 else "commit",
                tree=f"{i:064x}",
                parents=[written[p].id for p in parents],
                message=f"step {i}: é",
                params={"lr": 0.1 / (i + 1), "layers": [64, i], "opt": {"name": "adam"}},
                metrics={"loss": 1 / (i + 1), "ok": i % 2 == 0, "note": None},
                meta={"version": f"v{i}"} if i else {},
                lineage={"inputs": [{"ref": "x:v1", "asset": "x", "commit": "f" * 64}]}
                if i == 3
                else {},
            )
            row = dataclasses.replace(row, created_at=float(i + 1))
            hub.meta.insert_commit(conn, row)
            written.append(row)
        hub.meta.create_ref(conn, asset.id, "main", "branch", written[-1].id)
    merge = written[3]
    assert merge.parents == (written[2].id, written[1].id)
    by_id = {c.id: c for c in written}
    for size in (1, 2, 100):
        paged = all_pages(lambda cur, n=size: hub.log_page(M, limit=n, cursor=cur))
        assert sorted(paged, key=lambda c: c.id) == sorted(written, key=lambda c: c.id)
        assert all(c == by_id[c.id] for c in paged)
    with hub.meta.read() as conn:
        assert hub.meta.get_commits(conn, [c.id for c in written]) == by_id
        assert hub.meta.get_commits(conn, [merge.id, "0" * 64]) == {merge.id: merge}

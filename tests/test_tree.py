"""Trees as the core keeps them: compact for the garbage collector, ``TreeEntry`` outside."""

from __future__ import annotations

import gc
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assethub_ext.core.tree import (
    MODE_EXECUTABLE,
    MODE_FILE,
    TREE_FORMAT,
    Tree,
    TreeEntry,
    changes_after,
    diff_trees,
)


def test_every_way_out_of_a_tree_gives_tree_entries() -> None:
    tree = Tree(
        [
            TreeEntry("b/y", "2" * 64, 2),
            ("a", "1" * 64, 1, MODE_EXECUTABLE),
            ["b/x", "3" * 64, 3, 0o100644],
        ]
    )
    a = TreeEntry("a", "1" * 64, 1, MODE_EXECUTABLE)
    assert list(tree) == ["a", "b/x", "b/y"]
    assert tree["a"] == a and type(tree["a"]) is TreeEntry and tree["a"].mode == MODE_EXECUTABLE
    assert tree.get("missing") is None and "a" in tree and "b" not in tree
    outs = [
        list(tree.values()),
        [e for _, e in tree.items()],
        tree.page(after=None, limit=10),
        list(tree.entries_after(None)),
    ]
    for out in outs:
        assert [e.path for e in out] == ["a", "b/x", "b/y"]
        assert all(type(e) is TreeEntry for e in out)
    assert [e.size for e in tree.under("b")] == [3, 2] and tree.under("a") == [a]
    assert tree.total_size == 6 and tree.count_under("b/") == 2
    changed = tree.replaced([TreeEntry("c", "4" * 64, 4)], ["a"])
    assert [(c.path, c.status) for c in diff_trees(tree, changed)] == [
        ("a", "removed"),
        ("c", "added"),
    ]
    assert Tree.decode(changed.encode()) == changed


def test_a_kept_tree_adds_no_object_per_file_for_the_garbage_collector() -> None:
    """A NamedTuple per file stayed tracked, and a kept tree of 100,000 files made every
    full collection of a server walk 100,000 more objects; plain tuples are untracked."""
    tree = Tree.decode(Tree(TreeEntry(f"f{i:05}", "0" * 64, i) for i in range(5000)).encode())
    gc.collect()
    tracked = [o for o in gc.get_objects() if type(o) is TreeEntry]
    assert not tracked
    assert len(tree) == 5000 and tree["f04999"].size == 4999


@pytest.mark.parametrize(
    "name",
    [
        "plain/ascii.txt",
        "café/naïve.txt",  # non-ASCII: json escapes it, orjson would not
        "日本/データ.bin",
        "del\x7fchar",  # DEL: printable for neither, escaped by json only
        "tab\there\nnewline\x01\x1f",
        'quote"back\\slash/slash',
        os.fsdecode(b"undecodable-\xff"),  # a lone surrogate: orjson refuses it
    ],
)
def test_tree_bytes_are_json_dumps_bytes_whatever_the_names(name: str) -> None:
    """Tree digests name commits: every tree encodes exactly as ``json.dumps`` did."""
    tree = Tree([TreeEntry(name, "a" * 64, 2**63 - 1), TreeEntry("z", "b" * 64, 0)])
    rows = [list(e) for e in tree.values()]
    expected = json.dumps({"format": TREE_FORMAT, "entries": rows}, separators=(",", ":"))
    assert tree.encode() == expected.encode("utf-8")
    assert Tree.decode(tree.encode()) == tree


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.tuples(st.sampled_from("012"), st.booleans())),
    st.dictionaries(st.sampled_from("abcdefgh"), st.tuples(st.sampled_from("012"), st.booleans())),
)
def test_a_diff_lists_what_a_merge_of_the_sorted_trees_finds(
    old: dict[str, tuple[str, bool]], new: dict[str, tuple[str, bool]]
) -> None:
    """``diff_trees`` (lookups) and ``changes_after`` (the merge a paged diff uses) agree."""

    def tree(files: dict[str, tuple[str, bool]]) -> Tree:
        return Tree(
            TreeEntry(f"d/{name}", digit * 64, int(digit), MODE_EXECUTABLE if x else MODE_FILE)
            for name, (digit, x) in files.items()
        )

    a, b = tree(old), tree(new)
    assert diff_trees(a, b) == list(changes_after(a, b, None))
    assert diff_trees(a, a) == []

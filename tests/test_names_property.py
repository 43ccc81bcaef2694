"""Property tests for the strict name grammar (``assethub_ext.core.names``).

Valid asset paths and refs round-trip exactly; every malformed one is refused with
``InvalidInput`` whose message is one printable sentence. Tree paths are checked the same
way, and commit-id prefixes resolve through the Hub only when 7+ hex characters name
exactly one commit of that asset.
"""

from __future__ import annotations

import dataclasses
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from assethub_ext import Hub
from assethub_ext.core.errors import InvalidInput, NotFound
from assethub_ext.core.names import (
    MAX_REF_NAME,
    AssetPath,
    AssetRef,
    FolderPath,
    check_ref_name,
    check_tree_path,
    parse_asset_path,
    parse_folder_path,
    parse_path,
    parse_ref,
)

# -- helpers ------------------------------------------------------------------------------


def assert_one_sentence(err: BaseException) -> str:
    """The message is one printable line that ends with a full stop."""
    message = str(err)
    assert message, "an empty error message"
    assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
    assert message.isprintable(), f"message holds unprintable characters: {message!r}"
    assert message.endswith("."), f"message is not one sentence ending with '.': {message!r}"
    assert "Traceback" not in message
    return message


def refused(func: Callable[[str], object], text: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        func(text)  # type: ignore[arg-type]
    return assert_one_sentence(caught.value)


# -- strategies ---------------------------------------------------------------------------

SEGMENT_CHARS = string.ascii_letters + string.digits + "._-"
segments = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(alphabet=SEGMENT_CHARS, max_size=63),
)
types = st.sampled_from(["dataset", "model"])
asset_parts = st.tuples(segments, types, segments, segments).map(list)
asset_paths = asset_parts.map("/".join)
ref_names = st.lists(segments, min_size=1, max_size=5).map("/".join).filter(lambda r: len(r) <= 255)

LOOKALIKES = [
    "\u0430",  # Cyrillic small a
    "\u0435",  # Cyrillic small ie (looks like e)
    "\u043e",  # Cyrillic small o
    "\u0410",  # Cyrillic capital A
    "\uff41",  # fullwidth a
    "\uff21",  # fullwidth A
    "\uff10",  # fullwidth 0
    "\uff0f",  # fullwidth solidus
    "\uff1a",  # fullwidth colon
    "\u00a0",  # no-break space
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # zero-width no-break space (BOM)
    "\u2024",  # one dot leader
    "\u2010",  # hyphen
    "\u2212",  # minus sign
    "\u0131",  # dotless i
    "\u212a",  # Kelvin sign (case-folds to K)
    "\u2028",  # line separator
    "\u0301",  # combining acute accent
    "\u0660",  # Arabic-Indic digit zero
    "\U0001d5ba",  # mathematical sans-serif small a
    " ",
]
ASCII_CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"]
C1_CONTROLS = [chr(c) for c in range(0x80, 0xA0)]


def _join(parts: list[str]) -> str:
    return "/".join(parts)


@st.composite
def malformed_refs(draw: st.DrawFn) -> str:
    """A valid asset ref with exactly one kind of damage done to it."""
    parts = draw(asset_parts)
    ref = draw(st.one_of(st.none(), ref_names))
    kind = draw(
        st.sampled_from(
            [
                "empty-segment",
                "dotdot",
                "dot",
                "lookalike",
                "too-long",
                "segment-count",
                "bad-type",
                "two-colons",
                "control",
                "trailing-newline",
                "empty-ref",
                "bad-ref-segment",
                "too-long-ref",
                "whitespace",
            ]
        )
    )
    index = draw(st.sampled_from([0, 2, 3]))  # owner, folder or name
    if kind == "empty-segment":
        where = draw(st.sampled_from(["replace", "leading", "trailing", "double"]))
        if where == "replace":
            parts[draw(st.integers(0, 3))] = ""
            text = _join(parts)
        elif where == "leading":
            text = "/" + _join(parts)
        elif where == "trailing":
            text = _join(parts) + "/"
        else:
            position = draw(st.integers(1, 3))
            text = _join(parts[:position]) + "//" + _join(parts[position:])
    elif kind == "dotdot":
        parts[index] = ".."
        text = _join(parts)
    elif kind == "dot":
        parts[index] = "."
        text = _join(parts)
    elif kind == "lookalike":
        char = draw(st.sampled_from(LOOKALIKES))
        segment = parts[index]
        position = draw(st.integers(0, len(segment)))
        replace = draw(st.booleans()) and position < len(segment)
        parts[index] = segment[:position] + char + segment[position + (1 if replace else 0) :]
        text = _join(parts)
    elif kind == "too-long":
        first = draw(st.sampled_from(string.ascii_letters))
        parts[index] = first + draw(
            st.text(alphabet=SEGMENT_CHARS, min_size=64, max_size=64 + draw(st.integers(0, 40)))
        )
        text = _join(parts)
    elif kind == "segment-count":
        count = draw(st.sampled_from([1, 2, 3, 5, 6, 7]))
        extra = draw(st.lists(segments, min_size=3, max_size=3))
        text = _join((parts + extra)[:count])
    elif kind == "bad-type":
        parts[1] = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "Dataset",
                        "DATASET",
                        "Model",
                        "datasets",
                        "models",
                        "data",
                        "dataset ",
                        " model",
                        "modeI",
                        "dataset\n",
                        "d\u0430taset",
                        "mod\u0435l",
                        "folder",
                        "asset",
                    ]
                ),
                st.text(alphabet=SEGMENT_CHARS, min_size=1, max_size=12).filter(
                    lambda t: t not in ("dataset", "model")
                ),
            )
        )
        text = _join(parts)
    elif kind == "two-colons":
        extra = draw(st.sampled_from(["a:b", ":", "main:", ":main", "v1:v2"]))
        text = _join(parts) + ":" + (ref or "main") + ":" + extra
    elif kind == "control":
        char = draw(st.sampled_from(ASCII_CONTROLS))
        text = _join(parts) + (f":{ref}" if ref else "")
        position = draw(st.integers(0, len(text)))
        text = text[:position] + char + text[position:]
    elif kind == "trailing-newline":
        text = (
            _join(parts) + (f":{ref}" if ref else "") + draw(st.sampled_from(["\n", "\r\n", "\r"]))
        )
    elif kind == "empty-ref":
        text = _join(parts) + ":"
    elif kind == "bad-ref-segment":
        bad = draw(
            st.sampled_from(["..", ".", "", "-x", "_x", ".hidden", "a b", "a\\b", "a\u0430"])
        )
        ref_parts = (ref or "main").split("/")
        ref_parts[draw(st.integers(0, len(ref_parts) - 1))] = bad
        text = _join(parts) + ":" + "/".join(ref_parts)
    elif kind == "too-long-ref":
        text = _join(parts) + ":" + "/".join(["a" * 60] * 5)  # 304 characters, each segment valid
    else:  # whitespace before or after
        space = draw(st.sampled_from([" ", "\t", "\u00a0"]))
        text = space + _join(parts) if draw(st.booleans()) else _join(parts) + space
    return text


# -- asset paths and refs -----------------------------------------------------------------


@given(asset_paths)
@example("a/dataset/b/c")
@example("A/model/" + "z" * 64 + "/" + "0" * 64)
@example("a.b_c-d/dataset/x..y/v1")
def test_valid_asset_paths_round_trip(text: str) -> None:
    parsed = parse_asset_path(text)
    assert isinstance(parsed, AssetPath)
    assert str(parsed) == text
    assert parse_path(text) == parsed
    ref = parse_ref(text)
    assert ref.path == parsed and ref.ref == "main"
    assert str(ref) == text + ":main"
    assert str(parse_ref(text, default="draft")) == text + ":draft"


@given(asset_paths, ref_names)
@example("a/dataset/b/c", "v1")
@example("a/model/b/c", "sweeps/study1/trial-7")
@example("a/model/b/c", "0123456789abcdef" * 4)
def test_valid_refs_round_trip(path: str, ref: str) -> None:
    text = f"{path}:{ref}"
    parsed = parse_ref(text)
    assert isinstance(parsed, AssetRef)
    assert str(parsed) == text
    assert str(parsed.path) == path and parsed.ref == ref
    assert check_ref_name(ref) == ref


@given(st.tuples(segments, types, segments).map("/".join))
def test_valid_folder_paths_round_trip(text: str) -> None:
    parsed = parse_folder_path(text)
    assert isinstance(parsed, FolderPath)
    assert str(parsed) == text
    assert parse_path(text) == parsed


def test_longest_ref_name_is_accepted_and_one_more_is_not() -> None:
    longest = "/".join(["a" * 64] * 3) + "/" + "b" * (MAX_REF_NAME - 3 * 65)
    assert len(longest) == MAX_REF_NAME
    assert str(parse_ref(f"a/model/b/c:{longest}")).endswith(longest)
    refused(parse_ref, f"a/model/b/c:{longest}x")


@given(malformed_refs())
@settings(max_examples=400)
def test_malformed_refs_are_refused_with_one_sentence(text: str) -> None:
    refused(parse_ref, text)
    if ":" not in text:
        refused(parse_asset_path, text)


@given(malformed_refs().filter(lambda t: ":" not in t))
def test_malformed_asset_paths_are_refused_by_every_parser(text: str) -> None:
    refused(parse_asset_path, text)
    try:
        folder = parse_folder_path(text)
    except InvalidInput as err:
        assert_one_sentence(err)
        refused(parse_path, text)
    else:  # three good segments make a folder path, which parse_path rightly accepts
        assert str(folder) == text and parse_path(text) == folder


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/",
        "//",
        ":",
        ":main",
        "a/dataset/b/c:",
        "a/dataset/b/c::",
        "a/dataset/b/c:main:x",
        "a/dataset/b:main/c",
        "a/dataset/b/c\n",
        "a/dataset/b/c:main\n",
        "a/dataset/b/c:v1\n",
        "a/dataset/b/c\x00",
        "a/dataset/b/..",
        "a/dataset/../c",
        "../dataset/b/c",
        "./dataset/b/c",
        "a/dataset/./c",
        "a/dataset/b/c/",
        "/a/dataset/b/c",
        "a//dataset/b/c",
        "\u0430/dataset/b/c",  # Cyrillic a
        "a/d\u0430taset/b/c",  # Cyrillic a in the type
        "\uff41/dataset/b/c",  # fullwidth a
        "a/dataset/b\u00a0/c",  # NBSP
        "a/dataset/b/c\u200b",  # zero-width space
        "a/dataset/b/c:ma\u200bin",
        "a/dataset/b/" + "c" * 65,
        "a/dataset/" + "b" * 65 + "/c",
        "a" * 65 + "/dataset/b/c",
        "a/Dataset/b/c",
        "a/datasets/b/c",
        "a/notebook/b/c",
        "a/dataset/b",
        "a/dataset/b/c/d",
        "a",
        "a/dataset/b/c:../main",
        "a/dataset/b/c:main/",
        "a/dataset/b/c:/main",
        "a/dataset/b/c:-main",
        "a/dataset/b/c:ma in",
        "a/dataset/b/c:\x1b[31mred",
        "_a/dataset/b/c",
        "-a/dataset/b/c",
        ".a/dataset/b/c",
    ],
)
def test_named_malformed_refs(text: str) -> None:
    message = refused(parse_ref, text)
    if text:
        # The message names what was wrong without echoing raw control characters.
        assert "\x1b" not in message and "\x00" not in message


@pytest.mark.parametrize("value", [None, 5, b"a/dataset/b/c", ["a", "dataset", "b", "c"]])
def test_non_strings_are_refused(value: object) -> None:
    refused(parse_ref, value)
    refused(parse_asset_path, value)


@given(malformed_refs())
def test_ref_names_refused_as_branch_and_tag_names(text: str) -> None:
    """Names for branches and tags obey the ref grammar; a damaged ref part is refused."""
    _, colon, ref = text.partition(":")
    assume(colon and ref)
    try:
        check_ref_name(ref)
    except InvalidInput as err:
        assert_one_sentence(err)
    else:
        # The ref part survived intact, so the damage must be in the path part.
        refused(parse_asset_path, text.partition(":")[0])


@given(
    st.lists(segments, min_size=1, max_size=4).map("/".join),
    st.sampled_from(ASCII_CONTROLS + LOOKALIKES + ["/", ":", "\\", ".."]),
    st.data(),
)
def test_branch_names_with_any_bad_character_are_refused(
    name: str, bad: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(name)))
    damaged = name[:position] + bad + name[position:]
    if bad == "/":
        # a '/' only damages a name at an edge or next to another '/'
        assume(damaged.startswith("/") or damaged.endswith("/") or "//" in damaged)
    if bad == "..":
        assume(".." in damaged.split("/") or any(s.startswith(".") for s in damaged.split("/")))
    refused(check_ref_name, damaged)
    refused(lambda t: check_ref_name(t, "branch"), damaged + "\n")


# -- paths inside a tree ------------------------------------------------------------------

tree_part_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\u2028\u2029"
)
tree_parts = st.text(alphabet=tree_part_chars, min_size=1, max_size=24).filter(
    lambda p: p not in (".", "..")
)
tree_paths = st.lists(tree_parts, min_size=1, max_size=6).map("/".join)


@given(tree_paths)
@example("a")
@example("...")
@example("..a/.b/c..")
@example(".assethub-checkout.d/x")
@example("données/naïve ünïcode/файл.txt")
@example("a b/c\u00a0d/e\u200bf")
def test_valid_tree_paths_are_accepted_unchanged(text: str) -> None:
    assert check_tree_path(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "..",
        "../a",
        "a/..",
        "a/../b",
        "a/../../b",
        "./a",
        "a/.",
        "a/./b",
        "/a",
        "/etc/passwd",
        "//a",
        "a//b",
        "a/",
        "a\\b",
        "..\\a",
        "a\\..\\b",
        "\\a",
        "a\x00b",
        "a\nb",
        "a\n",
        "\na",
        "a\rb",
        "a\tb",
        "a\x1b[2Jb",
        "a\x7fb",
        "a/b\n",
        "a\x85b",  # NEL, a C1 control that str.splitlines() breaks on
        "a\x9b2Jb",  # CSI, a terminal escape introducer
        "a\u2028b",  # line separator
        "a\u2029b",  # paragraph separator
        "a\udcffb",  # a lone surrogate: a name that was not valid UTF-8
    ],
)
def test_hostile_tree_paths_are_refused(text: str) -> None:
    refused(check_tree_path, text)


@pytest.mark.parametrize("value", [None, 1, b"a", ("a",)])
def test_non_string_tree_paths_are_refused(value: object) -> None:
    refused(check_tree_path, value)


@given(tree_paths, st.sampled_from(["..", ".", ""]), st.data())
def test_tree_paths_with_a_dot_or_empty_part_are_refused(
    text: str, bad: str, data: st.DataObject
) -> None:
    parts = text.split("/")
    parts.insert(data.draw(st.integers(0, len(parts))), bad)
    refused(check_tree_path, "/".join(parts))


@given(tree_paths)
def test_absolute_tree_paths_are_refused(text: str) -> None:
    refused(check_tree_path, "/" + text)


@given(tree_paths, st.sampled_from([*ASCII_CONTROLS, "\\"]), st.data())
def test_tree_paths_with_control_characters_or_backslashes_are_refused(
    text: str, bad: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(text)))
    refused(check_tree_path, text[:position] + bad + text[position:])


@given(tree_paths, st.sampled_from(C1_CONTROLS), st.data())
@example("a", "\x9b", None)  # CSI: a terminal escape introducer on 8-bit terminals
@example("a", "\x85", None)  # NEL: str.splitlines() treats it as a line break
def test_tree_paths_with_c1_control_characters_are_refused(
    text: str, bad: str, data: st.DataObject | None
) -> None:
    """U+0080..U+009F are control characters too (Unicode category Cc), like U+0000..U+001F."""
    position = data.draw(st.integers(0, len(text))) if data is not None else len(text)
    refused(check_tree_path, text[:position] + bad + text[position:])


@pytest.mark.parametrize(
    ("part", "ok"),
    [
        ("a" * 255, True),
        ("a" * 256, False),
        ("\u00e9" * 127 + "a", True),  # 255 bytes
        ("\u00e9" * 128, False),  # 256 bytes
        ("\U0001f600" * 63 + "abc", True),  # 255 bytes in 66 characters
        ("\U0001f600" * 64, False),  # 256 bytes in 64 characters
    ],
)
def test_tree_path_part_length_is_limited_in_bytes(part: str, ok: bool) -> None:
    text = f"dir/{part}/file"
    if ok:
        assert check_tree_path(text) == text
    else:
        refused(check_tree_path, text)


def test_tree_path_total_length_is_limited() -> None:
    longest = "/".join(["a" * 200] * 20) + "/" + "b" * (4096 - 20 * 201)
    assert len(longest) == 4096
    assert check_tree_path(longest) == longest
    refused(check_tree_path, longest + "c")


# -- commit prefixes through the Hub --------------------------------------------------------

MODEL = "alice/model/f/m"
OTHER = "alice/model/f/other"


@pytest.fixture
def model_commits(hub: Hub, tmp_path: Path) -> list[str]:
    """A model with four commits on main and one on another model; returns main's ids."""
    hub.create(MODEL)
    hub.create(OTHER)
    ids = []
    for i in range(4):
        work = tmp_path / f"w{i}"
        work.mkdir()
        (work / "weights.bin").write_bytes(f"weights {i}".encode())
        ids.append(hub.commit(f"{MODEL}:main", str(work), message=f"c{i}").id)
    work = tmp_path / "other"
    work.mkdir()
    (work / "x").write_text("other")
    hub.commit(f"{OTHER}:main", str(work))
    return ids


def _resolved_id(hub: Hub, ref: str) -> str:
    return hub.show(ref)["commit"].id


def test_a_six_hex_prefix_is_not_a_commit(hub: Hub, model_commits: list[str]) -> None:
    for commit_id in model_commits:
        with pytest.raises((NotFound, InvalidInput)) as caught:
            hub.show(f"{MODEL}:{commit_id[:6]}")
        message = assert_one_sentence(caught.value)
        assert commit_id[:6] in message
        with pytest.raises((NotFound, InvalidInput)):
            hub.log(f"{MODEL}:{commit_id[:1]}")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 3), st.integers(7, 64))
def test_a_unique_prefix_of_seven_or_more_resolves(
    hub: Hub, model_commits: list[str], which: int, length: int
) -> None:
    commit_id = model_commits[which]
    assert _resolved_id(hub, f"{MODEL}:{commit_id[:length]}") == commit_id
    assert hub.log(f"{MODEL}:{commit_id[:length]}")[0].id == commit_id


def test_prefixes_do_not_cross_assets_or_cases(hub: Hub, model_commits: list[str]) -> None:
    other_head = _resolved_id(hub, f"{OTHER}:main")
    with pytest.raises(NotFound) as caught:
        hub.show(f"{MODEL}:{other_head[:12]}")
    assert_one_sentence(caught.value)
    upper = model_commits[0][:10].upper()
    if upper != model_commits[0][:10]:
        with pytest.raises(NotFound):
            hub.show(f"{MODEL}:{upper}")
    with pytest.raises(InvalidInput) as too_long:
        hub.show(f"{MODEL}:{model_commits[0]}0")  # 65 characters: not a valid ref name
    assert_one_sentence(too_long.value)


def test_an_ambiguous_prefix_is_refused_when_two_commits_match(
    hub: Hub, model_commits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = model_commits[0], model_commits[1]
    prefix = first[:7]

    def two_matches(conn: object, asset_id: int, text: str, limit: int = 2) -> list[str]:
        assert text == prefix and limit >= 2
        return [first, second]

    monkeypatch.setattr(hub.meta, "commits_with_prefix", two_matches)
    with pytest.raises(InvalidInput) as caught:
        hub.show(f"{MODEL}:{prefix}")
    message = assert_one_sentence(caught.value)
    assert message == (f"commit prefix '{prefix}' is ambiguous in '{MODEL}'; give more characters.")


def test_a_real_shared_prefix_is_ambiguous_and_a_longer_one_is_not(
    hub: Hub, model_commits: list[str]
) -> None:
    """Two commits whose ids share 9 hex characters, inserted through the metadata layer."""
    head = hub.show(f"{MODEL}:main")["commit"]
    shared = "abcdef012"
    crafted = [shared + "3" + "0" * 54, shared + "4" + "1" * 54]
    with hub.meta.write() as conn:
        for commit_id in crafted:
            hub.meta.insert_commit(
                conn,
                dataclasses.replace(
                    head, id=commit_id, parents=(head.id,), created_at=time.time(), message="x"
                ),
            )
    for length in (7, 8, 9):
        with pytest.raises(InvalidInput) as caught:
            hub.show(f"{MODEL}:{shared[:length]}")
        assert "ambiguous" in assert_one_sentence(caught.value)
    for commit_id in crafted:
        assert _resolved_id(hub, f"{MODEL}:{commit_id[:10]}") == commit_id
        assert _resolved_id(hub, f"{MODEL}:{commit_id}") == commit_id
    # the crafted commits are real, whole commits: the hub stays consistent
    assert hub.fsck().ok

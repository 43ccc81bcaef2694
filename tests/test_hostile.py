"""Hostile input through the Python API and the real ``assethub`` command.

Every refusal is one line on stderr starting with ``error:`` (never a traceback), leaves
the hub as it was, and writes nothing outside the folder it was told to write to. A
published version survives every public entry point unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import read_files, subprocess_env, write_files
from sqlalchemy import text

from assethub_ext import Hub
from assethub_ext.core.errors import (
    AlreadyExists,
    AssetHubError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
)
from assethub_ext.core.hashing import hash_bytes
from assethub_ext.core.tree import Tree, TreeEntry

CLI = Callable[..., subprocess.CompletedProcess[str]]

DATASET = "alice/dataset/f/d"
MODEL = "alice/model/f/m"
BIG = 2 * 1024 * 1024 + 17  # over the 1 MiB loose-object threshold


# -- helpers --------------------------------------------------------------------------------


def cli_problems(result: subprocess.CompletedProcess[str], code: int | None) -> list[str]:
    """What is wrong with a refusal's exit code and stderr (empty when all is well)."""
    problems = []
    if result.returncode == 0:
        problems.append("exit code 0 (the input was accepted)")
    elif code is not None and result.returncode != code:
        problems.append(f"exit code {result.returncode}, expected {code}")
    if "Traceback" in result.stderr:
        problems.append("a traceback on stderr")
    lines = result.stderr.rstrip("\n").split("\n")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if not lines[0].startswith("error: "):
        problems.append("stderr does not start with 'error: '")
    if problems:
        problems.append(f"stderr={result.stderr[-800:]!r} stdout={result.stdout[-300:]!r}")
    return problems


def assert_cli_refused(result: subprocess.CompletedProcess[str], code: int | None = None) -> str:
    problems = cli_problems(result, code)
    assert not problems, "; ".join(problems)
    return result.stderr.strip()


def assert_one_sentence(err: BaseException) -> str:
    message = str(err)
    assert message and "\n" not in message and message.endswith("."), repr(message)
    return message


def loose_file(hub: Hub, digest: str) -> str | None:
    """The store's own file for a loose object (None for a packed or absent one)."""
    return hub.objects.local_files([digest]).get(digest)


def hub_state(hub: Hub) -> tuple[Any, ...]:
    """Everything a refused request must leave alone (draft snapshots aside)."""
    with hub.meta.read() as conn:
        queries = [
            "SELECT owner, type, name FROM folders ORDER BY 1, 2, 3",
            "SELECT id, folder_id, name FROM assets ORDER BY 1",
            "SELECT asset_id, name, kind, commit_id FROM refs ORDER BY 1, 2",
            "SELECT asset_id, base_commit, tree, revision FROM drafts ORDER BY 1",
            "SELECT id, tree FROM commits WHERE kind != 'snapshot' ORDER BY 1",
            "SELECT folder_id, principal, level FROM grants ORDER BY 1, 2",
        ]
        return tuple(tuple(tuple(r) for r in conn.execute(text(q))) for q in queries)


def snapshot_dir(root: Path) -> dict[str, Any]:
    """Every entry under ``root`` (links not followed): kind, and bytes or link target."""
    found: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", path.read_bytes())
    return found


def draft_tree(hub: Hub, path: str = DATASET) -> Tree:
    with hub.meta.read() as conn:
        asset = hub._asset(conn, hub_path(path))
        draft = hub.catalog.draft(conn, asset.id)
    return hub.load_tree(draft.tree)


def hub_path(path: str) -> Any:
    from assethub_ext.core.names import parse_asset_path

    return parse_asset_path(path)


def point_draft_at(hub: Hub, tree: Tree, path: str = DATASET) -> str:
    """Store ``tree`` as is (no validation) and make it the draft, via the metadata layer."""
    writer = hub.objects.writer()
    digest = writer.put_bytes(tree.encode())
    writer.commit()
    with hub.meta.write() as conn:
        asset = hub._asset(conn, hub_path(path), "edit")
        draft = hub.catalog.draft(conn, asset.id)
        hub.catalog.update_draft(
            conn, draft, tree=digest, base_commit=draft.base_commit, user=hub.user
        )
    return digest


@dataclass
class World:
    root: Path
    source: Path  # the dataset's source folder (lands in the draft as "data/...")
    files: dict[str, bytes]  # v1's files as read_files() shows a checkout of it
    v1: str
    v1_tree: str
    model_src: Path
    model_head: str


def make_world(hub: Hub, root: Path) -> World:
    """A dataset published as v1 (small files and one large file) and a model with two branches."""
    rng = random.Random(7)
    source = write_files(
        root / "data",
        {
            "a.txt": "alpha\n",
            "sub/b.txt": "bravo\n",
            "sub/deeper/c.csv": "x,y\n1,2\n",
            "big.bin": rng.randbytes(BIG),
        },
    )
    hub.create(DATASET)
    hub.add(DATASET, [str(source)])
    published = hub.publish(DATASET, "first")
    model_src = write_files(root / "w0", {"weights.bin": b"w0" * 100, "cfg.json": "{}"})
    hub.create(MODEL)
    head = hub.commit(f"{MODEL}:main", str(model_src), message="m0").id
    hub.branch_create(f"{MODEL}:main", "exp")
    files = {f"data/{k}": v for k, v in read_files(source).items()}
    tree = hub.show(f"{DATASET}:v1")["commit"].tree
    return World(root, source, files, published.commit_id, tree, model_src, head)


@pytest.fixture
def world(hub: Hub, tmp_path: Path) -> World:
    return make_world(hub, tmp_path / "world")


def checkout_files(hub: Hub, ref: str, dest: Path, **kwargs: Any) -> dict[str, bytes]:
    hub.checkout(ref, str(dest), **kwargs)
    return read_files(dest)


_fresh = iter(range(10**9))


def assert_v1_intact(hub: Hub, world: World, tmp_path: Path, *, fsck: bool = True) -> None:
    info = hub.show(f"{DATASET}:v1")
    assert info["commit"].id == world.v1
    assert info["commit"].tree == world.v1_tree
    assert info["commit"].meta.get("version") == "v1"
    assert [c.id for c in hub.log(f"{DATASET}:v1")] == [world.v1]
    dest = tmp_path / f"v1-check-{next(_fresh)}"
    assert checkout_files(hub, f"{DATASET}:v1", dest) == world.files
    if fsck:
        report = hub.fsck()
        assert report.ok, report.problems


# -- malformed refs and paths on every verb -----------------------------------------------

SRC, DEST = "{src}", "{dest}"

MALFORMED: dict[str, list[list[str]]] = {
    "create": [
        ["create", "alice/dataset/f/../d"],
        ["create", "alice/datasets/f"],
        ["create", "alice/dataset/f/d:v1"],
        ["create", "\u0430lice/dataset/f"],
        ["create", "alice/model/f/" + "m" * 65],
        ["create", "alice/dataset/f/n\n"],
    ],
    "ls": [
        ["ls", "\u0430lice"],
        ["ls", "alice/dataset/f\x1b[2J"],
        ["ls", "alice/data\nset"],
        ["ls", "alice/dataset/f/../../x"],
        ["ls", "alice/dataset/f/d/e/../.."],
    ],
    "add": [
        ["add", "alice/dataset/f/d:v1", SRC],
        ["add", "alice/dataset/f/d\n", SRC],
        ["add", "alice/dataset/f/..", SRC],
        ["add", "alice/dataset/f/\uff44", SRC],
    ],
    "rm": [
        ["rm", "alice/dataset/f/d:draft", "data/a.txt"],
        ["rm", DATASET, "../data/a.txt"],
        ["rm", DATASET, "/etc/passwd"],
        ["rm", DATASET, "data/a.txt\n"],
        ["rm", DATASET, "data//a.txt"],
    ],
    "publish": [
        ["publish", "alice/dataset/f/d:v1"],
        ["publish", "\uff41lice/dataset/f/d"],
        ["publish", "alice/dataset/f/d/"],
    ],
    "derive": [
        ["derive", "alice/dataset/f/d\u200b", "--from", "v1"],
        ["derive", DATASET, "--from", "v1:v2"],
        ["derive", DATASET, "--from", "../v1"],
    ],
    "restore": [
        ["restore", "alice/dataset/f/d:v1", "--from", "v1", "data/a.txt"],
        ["restore", DATASET, "--from", "v1", "../../etc/passwd"],
        ["restore", DATASET, "--from", "v1\n", "data/a.txt"],
        ["restore", DATASET, "--from", "v1", "data/./a.txt"],
    ],
    "commit": [
        ["commit", "alice/model/f/m:ma in", SRC],
        ["commit", "alice/model/f/m:main:x", SRC],
        ["commit", "alice/model/f/m/", SRC],
        ["commit", "alice/modeI/f/m", SRC],
        ["commit", "alice/model/f/m:../main", SRC],
    ],
    "checkout": [
        ["checkout", "alice/dataset/f/d:v1\n", DEST],
        ["checkout", "alice/dataset/f/d:../v1", DEST],
        ["checkout", "alice/dataset/f/d:v1:x", DEST],
        ["checkout", "alice/dataset/f/\u0434:v1", DEST],
    ],
    "log": [
        ["log", "alice/model/f/m:main\n"],
        ["log", "alice/model/f/m:"],
        ["log", "alice/model/f/../m"],
    ],
    "show": [
        ["show", "alice/model/f/m:\u0430"],
        ["show", "alice/model/f/m:/main"],
        ["show", "alice/dataset/f/d:v1/"],
    ],
    "diff": [
        ["diff", "alice/dataset/f/d:v1", "alice/dataset/f/d:v1:x"],
        ["diff", "alice/dataset/f/d:..", "alice/dataset/f/d:v1"],
    ],
    "branch-create": [
        ["branch", "create", "alice/model/f/m:ma\tin", "exp2"],
        ["branch", "create", MODEL, "../exp"],
        ["branch", "create", MODEL, "exp\n"],
        ["branch", "create", MODEL, "a//b"],
    ],
    "branch-list": [
        ["branch", "list", "alice/model/f/m:main"],
        ["branch", "list", "alice/model/f"],
    ],
    "branch-delete": [
        ["branch", "delete", "alice/model/f/m:exp", "exp"],
        ["branch", "delete", MODEL, "exp:x"],
        ["branch", "delete", MODEL, ".."],
    ],
    "tag": [
        ["tag", "alice/model/f/m:ma\x7fin", "t1"],
        ["tag", "alice/model/f/m:main", "t 1"],
        ["tag", "alice/model/f/m:main", "t1\n"],
        ["tag", "alice/model/f/m:main", ".t"],
    ],
    "merge": [
        ["merge", "alice/model/f/m:main", "exp"],
        ["merge", MODEL, "exp:x"],
        ["merge", MODEL, "exp", "--into", "ma in"],
        ["merge", MODEL, "../exp"],
    ],
    "lineage": [
        ["lineage", "alice/model/f/m:main:"],
        ["lineage", "alice/model/f/m\u00a0"],
        ["lineage", "\u0430lice/model/f/m"],
    ],
    "share": [
        ["share", "alice/dataset/f/..", "bob", "read"],
        ["share", "alice/dataset/f", "b\nob", "read"],
        ["share", "alice/dataset/f", "../bob", "read"],
        ["share", DATASET, "bob", "read"],
    ],
}


def _fill(args: list[str], src: Path, dest: Path) -> list[str]:
    return [str(src) if a == SRC else str(dest) if a == DEST else a for a in args]


def _refusal_failures(
    cases: list[tuple[list[str], Path]], code: int, world: World, cli: CLI
) -> list[str]:
    """Run independent refusals side by side; describe each that was not a clean refusal
    with exit code ``code`` or that created its destination."""
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda case: cli(*_fill(case[0], world.model_src, case[1])), cases))
    failures = []
    for (args, dest), result in zip(cases, results, strict=True):
        problems = cli_problems(result, code)
        if dest.exists():
            problems.append(f"{dest} was created")
        if problems:
            failures.append(f"{args!r}: " + "; ".join(problems))
    return failures


@pytest.mark.parametrize("verb", sorted(MALFORMED))
def test_malformed_input_on_every_verb(
    verb: str, hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    """Exit code 2, one 'error:' line, no traceback, and the hub exactly as it was."""
    before = hub_state(hub)
    cases = [(args, tmp_path / f"dest{i}") for i, args in enumerate(MALFORMED[verb])]
    failures = _refusal_failures(cases, 2, world, cli)
    assert hub_state(hub) == before, "a refused request changed the hub"
    assert not failures, "\n".join(failures)
    assert hub.fsck().ok


MISSING: list[list[str]] = [
    ["log", "alice/model/f/nope"],
    ["log", "alice/model/f/m:nobranch"],
    ["show", "alice/dataset/f/d:v9"],
    ["show", "alice/model/nope/m"],
    ["checkout", "alice/dataset/f/d:v9", DEST],
    ["commit", "alice/model/f/m:nobranch", SRC],
    ["restore", DATASET, "--from", "v1", "data/nope.txt"],
    ["restore", DATASET, "--from", "v7", "data/a.txt"],
    ["rm", DATASET, "data/nope.txt"],
    ["derive", DATASET, "--from", "v9"],
    ["branch", "delete", MODEL, "nope"],
    ["ls", "alice/dataset/nope"],
    ["add", "alice/dataset/f/nope", SRC],
    ["add", DATASET, "{missing}"],
    ["merge", MODEL, "nope"],
    ["tag", "alice/model/f/m:nope", "t"],
    ["lineage", "alice/model/f/m:nope"],
    ["share", "alice/dataset/nope", "bob", "read"],
    ["diff", "alice/dataset/f/d:v1", "alice/dataset/f/d:v9"],
    ["publish", "alice/dataset/f/nope"],
]


def test_missing_things_are_reported_in_one_line(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    """Exit code 1, one 'error:' line, nothing created, the hub exactly as it was."""
    before = hub_state(hub)
    missing_src = str(tmp_path / "no-such-folder")
    cases = [
        ([missing_src if a == "{missing}" else a for a in args], tmp_path / f"dest{i}")
        for i, args in enumerate(MISSING)
    ]
    failures = _refusal_failures(cases, 1, world, cli)
    assert hub_state(hub) == before, "a refused request changed the hub"
    assert not failures, "\n".join(failures)


def test_missing_things_raise_not_found_through_the_api(
    hub: Hub, world: World, tmp_path: Path
) -> None:
    before = hub_state(hub)
    attempts: list[Callable[[], object]] = [
        lambda: hub.log("alice/model/f/nope"),
        lambda: hub.show(f"{DATASET}:v9"),
        lambda: hub.log(f"{MODEL}:nobranch"),
        lambda: hub.commit(f"{MODEL}:nobranch", str(world.model_src)),
        lambda: hub.restore(DATASET, "v1", ["data/nope.txt"]),
        lambda: hub.rm(DATASET, ["data/nope.txt"]),
        lambda: hub.branch_delete(MODEL, "nope"),
        lambda: hub.checkout(f"{DATASET}:v9", str(tmp_path / "dest")),
        lambda: hub.add(DATASET, [str(tmp_path / "nothing-here")]),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as caught:
            attempt()
        assert_one_sentence(caught.value)
    assert hub_state(hub) == before
    assert not (tmp_path / "dest").exists()


# -- hostile source folders ---------------------------------------------------------------


def _outside(root: Path) -> Path:
    return write_files(root / "outside", {"secret.txt": "the secret\n", "dir/more.txt": "more\n"})


def _link_to_outside_file(src: Path, outside: Path) -> None:
    os.symlink(outside / "secret.txt", src / "leak.txt")


def _relative_link_escaping(src: Path, outside: Path) -> None:
    os.symlink(os.path.relpath(outside / "secret.txt", src / "sub"), src / "sub" / "leak.txt")


def _link_to_outside_folder(src: Path, outside: Path) -> None:
    os.symlink(outside / "dir", src / "leakdir")


def _link_to_inside_folder(src: Path, outside: Path) -> None:
    os.symlink("sub", src / "alias")


def _chain_inside_then_outside(src: Path, outside: Path) -> None:
    os.symlink(outside / "secret.txt", src / "sub" / "hop")
    os.symlink("sub/hop", src / "first")


def _fifo(src: Path, outside: Path) -> None:
    os.mkfifo(src / "pipe")


def _dangling_link(src: Path, outside: Path) -> None:
    os.symlink("not-there.txt", src / "dangling")


def _link_loop(src: Path, outside: Path) -> None:
    os.symlink("loop-b", src / "loop-a")
    os.symlink("loop-a", src / "loop-b")


HOSTILE_SOURCES = {
    "symlink-to-outside-file": _link_to_outside_file,
    "relative-symlink-escaping": _relative_link_escaping,
    "symlink-to-outside-folder": _link_to_outside_folder,
    "symlink-to-folder": _link_to_inside_folder,
    "symlink-chain-leaving": _chain_inside_then_outside,
    "fifo": _fifo,
    "dangling-symlink": _dangling_link,
    "symlink-loop": _link_loop,
}


def _hostile_source(root: Path, kind: str) -> tuple[Path, Path]:
    outside = _outside(root)
    src = write_files(root / "incoming", {"ok.txt": "fine\n", "sub/x.txt": "x\n"})
    HOSTILE_SOURCES[kind](src, outside)
    return src, outside


@pytest.mark.parametrize("kind", sorted(HOSTILE_SOURCES))
def test_hostile_source_folder_is_refused_and_the_draft_unchanged(
    kind: str, hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    src, outside = _hostile_source(tmp_path, kind)
    secret = hash_bytes((outside / "secret.txt").read_bytes())
    before, tree_before = hub_state(hub), draft_tree(hub)

    with pytest.raises(AssetHubError) as caught:
        hub.add(DATASET, [str(src)])
    assert_one_sentence(caught.value)
    assert_cli_refused(cli("add", DATASET, str(src)))
    with pytest.raises(AssetHubError):
        hub.commit(f"{MODEL}:main", str(src))
    assert_cli_refused(cli("commit", f"{MODEL}:main", str(src)))

    assert hub_state(hub) == before
    assert draft_tree(hub) == tree_before
    assert hub.objects.missing([secret]) == {secret}, "the outside file's bytes were stored"
    assert hub.fsck().ok


def test_symlink_to_a_file_inside_the_tree_is_stored_as_its_content(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    src = write_files(tmp_path / "linked", {"real.txt": "real bytes\n", "sub/other.txt": "o\n"})
    os.symlink("real.txt", src / "alias.txt")
    os.symlink("../real.txt", src / "sub" / "up.txt")
    hub.add(DATASET, [str(src)])
    tree = draft_tree(hub)
    digest = hash_bytes(b"real bytes\n")
    for rel in ("linked/real.txt", "linked/alias.txt", "linked/sub/up.txt"):
        assert tree[rel].digest == digest
    dest = tmp_path / "co"
    files = checkout_files(hub, f"{DATASET}:draft", dest)
    assert files["linked/alias.txt"] == b"real bytes\n"
    assert not (dest / "linked" / "alias.txt").is_symlink()
    # and the same through the command, as a model commit
    assert cli("commit", f"{MODEL}:main", str(src)).returncode == 0
    assert hub.show(f"{MODEL}:main")["tree"]["alias.txt"].digest == digest
    assert hub.fsck().ok


def test_hostile_names_in_messages_stay_on_one_line(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    """File-system names are user input too: a newline in one must not split the error line."""
    outside = _outside(tmp_path)
    src = write_files(tmp_path / "evilnames", {"ok.txt": "ok\n"})
    os.symlink(outside / "secret.txt", src / "x\nerror: forged line")
    busy = write_files(tmp_path / "busy\nfolder", {"mine.txt": "mine\n"})
    before = hub_state(hub)
    failures = []
    for args in (
        ["add", DATASET, str(src)],
        ["add", DATASET, str(tmp_path / "no\nsuch folder")],
        ["commit", f"{MODEL}:main", str(tmp_path / "no\nsuch folder")],
        ["checkout", f"{DATASET}:v1", str(busy)],
    ):
        problems = cli_problems(cli(*args), None)
        if problems:
            failures.append(f"{args!r}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)
    assert hub_state(hub) == before


def _as_nobody_prefix() -> list[str]:
    """Run as an unprivileged user when we are root (root reads files whatever their mode)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "tests run as root need setpriv (util-linux) to drop privileges"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder an unprivileged user can use (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="assethub-unpriv-"))
    os.chmod(base, 0o777)
    try:
        yield base
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for name in dirnames:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(dirpath, name), 0o777)
        shutil.rmtree(base, ignore_errors=True)


def _run_unprivileged(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env.update(ASSETHUB_HOME=str(base / "hub"), ASSETHUB_USER="alice", HOME=str(base))
    return subprocess.run(
        [*_as_nobody_prefix(), sys.executable, "-m", "assethub_ext", *args],
        env=env,
        cwd=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _unprivileged_setup(base: Path, mode_target: str) -> Path:
    """A hub and a source folder owned by nobody-accessible paths; one entry made unreadable."""
    assert _run_unprivileged(base, "create", DATASET).returncode == 0
    assert (
        _run_unprivileged(
            base, "add", DATASET, str(write_files(base / "first", {"f": "1"}))
        ).returncode
        == 0
    )
    src = write_files(
        base / "src", {"ok.txt": "readable\n", "secret.txt": "hidden\n", "sub/inner.txt": "in\n"}
    )
    for dirpath, _dirnames, filenames in os.walk(src):
        os.chmod(dirpath, 0o777)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    os.chmod(src / mode_target, 0)
    return src


def _unprivileged_draft(base: Path) -> list[Any]:
    """The draft's files, read as the unprivileged user too (root must not own hub files)."""
    result = _run_unprivileged(base, "show", f"{DATASET}:draft", "--json", "--files")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["tree"]


def test_unreadable_file_is_refused_and_the_draft_unchanged(shared_tmp: Path) -> None:
    src = _unprivileged_setup(shared_tmp, "secret.txt")
    before = _unprivileged_draft(shared_tmp)
    assert [entry[0] for entry in before] == ["first/f"]
    result = _run_unprivileged(shared_tmp, "add", DATASET, str(src))
    message = assert_cli_refused(result, 2)
    assert "secret.txt" in message and "permission" in message
    assert _unprivileged_draft(shared_tmp) == before


def test_unreadable_folder_is_refused_and_the_draft_unchanged(shared_tmp: Path) -> None:
    src = _unprivileged_setup(shared_tmp, "sub")
    before = _unprivileged_draft(shared_tmp)
    result = _run_unprivileged(shared_tmp, "add", DATASET, str(src))
    assert_cli_refused(result)
    assert _unprivileged_draft(shared_tmp) == before


# -- checkout into hostile folders ----------------------------------------------------------


def test_checkout_into_a_non_empty_folder_is_refused(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    dest = write_files(tmp_path / "busy", {"mine.txt": "do not touch\n"})
    with pytest.raises(Conflict) as caught:
        hub.checkout(f"{DATASET}:v1", str(dest))
    assert_one_sentence(caught.value)
    assert_cli_refused(cli("checkout", f"{DATASET}:v1", str(dest)), 1)
    assert snapshot_dir(dest) == {"mine.txt": ("file", b"do not touch\n")}


def test_checkout_onto_a_file_or_below_a_file_is_refused(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep\n")
    with pytest.raises(InvalidInput):
        hub.checkout(f"{DATASET}:v1", str(afile))
    failures = []
    for dest in (afile, afile / "sub"):
        problems = cli_problems(cli("checkout", f"{DATASET}:v1", str(dest)), None)
        if problems:
            failures.append(f"{dest}: " + "; ".join(problems))
    assert afile.read_text() == "keep\n"
    assert not failures, "\n".join(failures)


def _two_versions(hub: Hub, tmp_path: Path, v2_files: dict[str, str]) -> None:
    """v1 holds data/sub/a.txt and data/top.txt; v2 is v1 with ``v2_files`` (None removes)."""
    src = write_files(tmp_path / "data", {"sub/a.txt": "A1\n", "top.txt": "T\n"})
    hub.create(DATASET)
    hub.add(DATASET, [str(src)])
    hub.publish(DATASET)
    shutil.rmtree(src / "sub")
    write_files(src, v2_files)
    hub.add(DATASET, [str(src)])
    hub.publish(DATASET)


PLANTED = {
    # name: (v2's files under sub/, what the outside folder holds, force)
    "outside-empty": ({"sub/a.txt": "A2\n", "sub/new.txt": "N\n"}, {}, False),
    "outside-holds-identical-copy": ({"sub/a.txt": "A2\n"}, {"a.txt": "A1\n"}, False),
    "forced-outside-holds-other-file": ({"sub/a.txt": "A2\n"}, {"a.txt": "precious\n"}, True),
    "new-nested-folder": ({"sub/deep/n.txt": "N\n"}, {"keep.txt": "k\n"}, False),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_checkout_never_writes_through_a_planted_symlink(
    case: str, hub: Hub, tmp_path: Path
) -> None:
    v2_files, outside_files, force = PLANTED[case]
    _two_versions(hub, tmp_path / "src", v2_files)
    dest = tmp_path / "co"
    hub.checkout(f"{DATASET}:v1", str(dest))
    outside = write_files(tmp_path / "outside", outside_files)
    outside.mkdir(exist_ok=True)
    shutil.rmtree(dest / "data" / "sub")
    os.symlink(outside, dest / "data" / "sub")
    before = snapshot_dir(outside)

    try:
        hub.checkout(f"{DATASET}:v2", str(dest), force=force)
    except AssetHubError as err:
        assert_one_sentence(err)
    assert snapshot_dir(outside) == before, "the checkout changed a folder outside its target"
    assert os.path.islink(dest / "data" / "sub")


def _tree_with(hub: Hub, entries: dict[str, bytes]) -> Tree:
    writer = hub.objects.writer()
    rows = [TreeEntry(path, writer.put_bytes(data), len(data)) for path, data in entries.items()]
    writer.commit()
    return Tree(rows)


@pytest.mark.parametrize(
    "hostile",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "{abs}/evil.txt",
        "./evil.txt",
        "a//evil.txt",
        "big/../../evil.bin",
    ],
)
def test_a_hostile_tree_in_the_store_is_refused_at_checkout(
    hostile: str, hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    """A tree crafted directly in the store (not through add) never writes outside its target."""
    arena = tmp_path / "arena"
    dest = arena / "co"
    path = hostile.replace("{abs}", str(arena))
    payload = random.Random(1).randbytes(BIG) if hostile.endswith(".bin") else b"evil\n"
    point_draft_at(hub, _tree_with(hub, {"ok.txt": b"fine\n", path: payload}))
    arena.mkdir()
    (arena / "bystander.txt").write_text("here before\n")
    before = snapshot_dir(arena)

    with pytest.raises(InvalidInput) as caught:
        hub.checkout(f"{DATASET}:draft", str(dest))
    assert_one_sentence(caught.value)
    assert_cli_refused(cli("checkout", f"{DATASET}:draft", str(arena / "co2")), 2)
    after = {k: v for k, v in snapshot_dir(arena).items() if k.split("/")[0] not in ("co", "co2")}
    assert after == before, "a hostile tree path wrote outside the checkout folder"
    for root in (dest, arena / "co2"):
        assert not [p for p in snapshot_dir(root) if "evil" in p]


def test_a_planted_checkout_marker_cannot_delete_files_outside(
    hub: Hub, world: World, tmp_path: Path
) -> None:
    """The marker names the tree of an earlier checkout; a hostile one must not aim deletes."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    writer = hub.objects.writer()
    hostile = Tree([TreeEntry("../victim.txt", writer.put_bytes(b"precious\n"), 9)])
    tree_digest = writer.put_bytes(hostile.encode())
    writer.commit()
    dest = tmp_path / "co"
    dest.mkdir()
    (dest / ".assethub-checkout").write_text(
        json.dumps({"ref": "x", "commit": "y", "tree": tree_digest})
    )

    with contextlib.suppress(AssetHubError):
        hub.checkout(f"{DATASET}:v1", str(dest))
    assert victim.read_bytes() == b"precious\n", "checkout deleted a file outside its target"


@pytest.mark.parametrize(
    "marker",
    [
        '{"tree": 123}',
        '{"tree": ["a"]}',
        '{"tree": "0000000000000000000000000000000000000000000000000000000000000000"}',
        '{"tree": "../../etc/passwd"}',
        "[1, 2]",
        "not json",
    ],
)
def test_a_corrupt_checkout_marker_gives_one_line(
    marker: str, hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    dest = tmp_path / "co"
    dest.mkdir()
    (dest / ".assethub-checkout").write_text(marker)
    result = cli("checkout", f"{DATASET}:v1", str(dest))
    if result.returncode == 0:  # treated as no earlier checkout: then it must be a whole one
        assert read_files(dest) == world.files
    else:
        assert_cli_refused(result)


# -- a published version under attack ------------------------------------------------------


def _attack_add(hub: Hub, world: World, tmp_path: Path) -> None:
    (world.source / "a.txt").write_text("CHANGED\n")
    (world.source / "new.txt").write_text("new\n")
    shutil.rmtree(world.source / "sub")
    change = hub.add(DATASET, [str(world.source)])
    assert {c.status for c in change.changes} == {"added", "changed", "removed"}


def _attack_add_single_file_over_version_path(hub: Hub, world: World, tmp_path: Path) -> None:
    other = write_files(tmp_path / "elsewhere", {"a.txt": "not alpha\n"})
    hub.add(DATASET, [str(other / "a.txt")])
    assert draft_tree(hub)["a.txt"].digest == hash_bytes(b"not alpha\n")


def _attack_rm(hub: Hub, world: World, tmp_path: Path) -> None:
    hub.rm(DATASET, ["data/a.txt", "data/sub", "data/big.bin"])
    assert sorted(draft_tree(hub)) == []


def _attack_restore(hub: Hub, world: World, tmp_path: Path) -> None:
    hub.rm(DATASET, ["data/sub"])
    hub.restore(DATASET, "v1", ["data/sub/deeper"])
    hub.restore(DATASET, "v1", ["data/sub/b.txt"])
    assert sorted(draft_tree(hub)) == sorted(world.files)


def _attack_commit_to_dataset(hub: Hub, world: World, tmp_path: Path) -> None:
    for ref in (f"{DATASET}:v1", f"{DATASET}:main", f"{DATASET}:draft", DATASET, f"{DATASET}:v2"):
        with pytest.raises(InvalidInput) as caught:
            hub.commit(ref, str(world.model_src))
        assert_one_sentence(caught.value)


def _attack_reserved_tags(hub: Hub, world: World, tmp_path: Path) -> None:
    for ref, name in [("v1", "v1"), ("v1", "v2"), ("draft", "v1"), ("v1", "main"), ("v1", "draft")]:
        with pytest.raises(InvalidInput) as caught:
            hub.tag(f"{DATASET}:{ref}", name)
        assert_one_sentence(caught.value)
    assert hub.tag(f"{DATASET}:v1", "release") == world.v1
    for ref in ("v1", "draft"):
        with pytest.raises(AlreadyExists):
            hub.tag(f"{DATASET}:{ref}", "release")


def _attack_branches(hub: Hub, world: World, tmp_path: Path) -> None:
    for ref, name in [("v1", "exp"), ("v1", "v1"), ("draft", "x"), ("main", "main2")]:
        with pytest.raises(InvalidInput):
            hub.branch_create(f"{DATASET}:{ref}", name)
    with pytest.raises(InvalidInput):
        hub.branch_list(DATASET)
    for name, force in [("v1", False), ("v1", True), ("main", True), ("draft", True)]:
        with pytest.raises((NotFound, Conflict, InvalidInput)):
            hub.branch_delete(DATASET, name, force=force)


def _attack_merge(hub: Hub, world: World, tmp_path: Path) -> None:
    for source, into in [("v1", "main"), ("draft", "main"), ("v1", "v1")]:
        with pytest.raises(InvalidInput):
            hub.merge(DATASET, source, into=into)


def _attack_derive_and_publish(hub: Hub, world: World, tmp_path: Path) -> None:
    (world.source / "a.txt").write_text("v2 alpha\n")
    hub.add(DATASET, [str(world.source)])
    with pytest.raises(Conflict):
        hub.derive(DATASET, "v1")
    hub.derive(DATASET, "v1", force=True)
    assert draft_tree(hub) == hub.load_tree(world.v1_tree)
    with pytest.raises(Conflict):
        hub.publish(DATASET)  # nothing to publish
    hub.add(DATASET, [str(world.source)])
    v2 = hub.publish(DATASET, "second")
    assert v2.version == "v2"
    assert hub.show(f"{DATASET}:v2")["commit"].parents == (world.v1,)
    hub.derive(DATASET, "v1")
    hub.rm(DATASET, ["data/big.bin"])
    v3 = hub.publish(DATASET)
    assert v3.version == "v3"
    assert hub.show(f"{DATASET}:v3")["commit"].parents == (world.v1,)
    assert hub.show(f"{DATASET}:main")["commit"].id == v3.commit_id


def _attack_overwrite_objects(hub: Hub, world: World, tmp_path: Path) -> None:
    """Write other bytes under the digests of v1's objects, packed and loose."""
    tree = hub.load_tree(world.v1_tree)
    digests = [world.v1_tree, *(e.digest for e in tree.values())]
    originals = {d: hub.objects.read_bytes(d) for d in digests}
    for size_of_lie in ("same", "large"):
        writer = hub.objects.writer()
        for digest, data in originals.items():
            size = len(data) if size_of_lie == "same" else max(len(data), BIG)
            writer.append(digest, bytes(random.Random(digest).randbytes(size)))
        writer.commit()
    big = next(e.digest for e in tree.values() if e.size == BIG)
    loose = loose_file(hub, big)
    assert loose is not None
    with open(loose, "rb") as handle:
        assert handle.read() == originals[big]
    for digest, data in originals.items():
        assert hub.objects.read_bytes(digest) == data
        assert hub.objects.verify(digest)


def _attack_edit_copied_checkout(hub: Hub, world: World, tmp_path: Path) -> None:
    dest = tmp_path / "copied"
    hub.checkout(f"{DATASET}:v1", str(dest), link="copy")
    for path in dest.rglob("*"):
        if path.is_file() and path.name != ".assethub-checkout":
            os.chmod(path, 0o644)
            path.write_bytes(b"scribbled over")
    hub.rm(DATASET, ["data/a.txt"])
    with pytest.raises(Conflict):  # the edited a.txt would be lost
        hub.checkout(f"{DATASET}:draft", str(dest))


def _attack_ref_name_tricks(hub: Hub, world: World, tmp_path: Path) -> None:
    hub.create("alice/dataset/f/other")
    with pytest.raises(InvalidInput):
        hub.tag(f"{DATASET}:v1", "v1/../v2")
    with pytest.raises((NotFound, InvalidInput)):
        hub.branch_delete(DATASET, "v1", force=True)


ATTACKS = {
    "add": _attack_add,
    "add-file-named-like-version-file": _attack_add_single_file_over_version_path,
    "rm": _attack_rm,
    "restore": _attack_restore,
    "commit-to-dataset": _attack_commit_to_dataset,
    "reserved-tags": _attack_reserved_tags,
    "branches-on-dataset": _attack_branches,
    "merge-into-dataset": _attack_merge,
    "derive-and-publish": _attack_derive_and_publish,
    "overwrite-objects": _attack_overwrite_objects,
    "edit-copied-checkout": _attack_edit_copied_checkout,
    "ref-name-tricks": _attack_ref_name_tricks,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_published_version_survives(attack: str, hub: Hub, world: World, tmp_path: Path) -> None:
    assert_v1_intact(hub, world, tmp_path)
    ATTACKS[attack](hub, world, tmp_path)
    assert_v1_intact(hub, world, tmp_path)
    # a second Hub (a fresh process's view) agrees
    with Hub(hub.config.home, user="alice") as fresh:
        assert_v1_intact(fresh, world, tmp_path)


def test_a_published_version_survives_the_command_line(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    before = hub_state(hub)
    for args in (
        ["commit", f"{DATASET}:v1", str(world.model_src)],
        ["tag", f"{DATASET}:v1", "v1"],
        ["tag", f"{DATASET}:v1", "v2"],
        ["branch", "create", f"{DATASET}:v1", "exp"],
        ["branch", "delete", DATASET, "v1", "--force"],
        ["merge", DATASET, "v1"],
        ["derive", DATASET, "--from", "draft"],
        ["restore", DATASET, "--from", "draft", "data/a.txt"],
    ):
        assert_cli_refused(cli(*args))
    assert hub_state(hub) == before
    assert cli("derive", DATASET, "--from", "v1").returncode == 0
    (world.source / "a.txt").write_text("v2\n")
    assert cli("add", DATASET, str(world.source)).returncode == 0
    result = cli("publish", DATASET)
    assert result.returncode == 0 and result.stdout.strip() == f"{DATASET}:v2"
    assert_v1_intact(hub, world, tmp_path)


def test_writing_into_a_hard_linked_checkout_is_detected(
    hub: Hub, world: World, cli: CLI, tmp_path: Path
) -> None:
    """Root ignores the read-only mode, so the corruption is allowed to happen; it must be caught."""
    dest = tmp_path / "linked"
    report = hub.checkout(f"{DATASET}:v1", str(dest), link="hardlink").report
    assert report.methods.get("hardlink") == 1
    big = dest / "data" / "big.bin"
    entry = hub.load_tree(world.v1_tree)["data/big.bin"]
    store_file = loose_file(hub, entry.digest)
    assert store_file is not None
    assert stat.S_IMODE(big.stat().st_mode) == 0o444
    assert stat.S_IMODE(os.stat(store_file).st_mode) == 0o444
    assert big.stat().st_ino == os.stat(store_file).st_ino
    assert hub.fsck().ok

    with open(big, "r+b") as handle:  # what a careless `chmod u+w; edit` would do
        handle.seek(BIG // 2)
        handle.write(b"CORRUPTED")

    report = hub.fsck()
    assert not report.ok
    assert f"object {entry.digest[:12]} is corrupt" in report.problems
    fresh = tmp_path / "fresh"
    with pytest.raises(IntegrityError) as caught:
        hub.checkout(f"{DATASET}:v1", str(fresh))
    assert "corrupt" in assert_one_sentence(caught.value)
    assert not (fresh / "data" / "big.bin").exists(), "bad bytes were served"
    with pytest.raises(IntegrityError):
        hub.objects.read_bytes(entry.digest)
    assert "corrupt" in assert_cli_refused(
        cli("checkout", f"{DATASET}:v1", str(tmp_path / "cli")), 1
    )
    assert not (tmp_path / "cli" / "data" / "big.bin").exists()
    assert cli("fsck").returncode == 1


def test_a_stray_file_is_never_adopted_as_an_object(hub: Hub, tmp_path: Path) -> None:
    """A leftover (or planted) file at a loose object's path must not stand in for its bytes."""
    data = random.Random(3).randbytes(BIG)
    digest = hash_bytes(data)
    hub.create(DATASET)
    target = Path(hub.objects.root) / "objects" / digest[:2] / digest
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"half-written leftover")
    assert str(target) in hub.fsck().stray

    src = write_files(tmp_path / "src", {"big.bin": data})
    with contextlib.suppress(AssetHubError):
        hub.add(DATASET, [str(src)])
        hub.publish(DATASET)
    report = hub.fsck()
    assert report.ok, report.problems
    if loose_file(hub, digest):
        assert hub.objects.read_bytes(digest) == data


@pytest.mark.parametrize("name", ["draft", "v1", "v12"])
def test_a_first_commit_cannot_create_a_reserved_branch(
    name: str, hub: Hub, tmp_path: Path
) -> None:
    """``branch create`` refuses these names; the first commit of a model must not create them."""
    hub.create(MODEL)
    src = write_files(tmp_path / "w", {"weights.bin": "w"})
    with pytest.raises(InvalidInput) as caught:
        hub.commit(f"{MODEL}:{name}", str(src))
    assert_one_sentence(caught.value)
    assert hub.branch_list(MODEL) == []


def test_a_tree_entry_of_the_wrong_shape_is_refused_as_corrupt() -> None:
    good = Tree([TreeEntry("a", "0" * 64, 1)])
    assert Tree.decode(good.encode()) == good
    for rows in ([["a", "0" * 64, 1]], [["a", "0" * 64, 1, 0o100644, "x"]], ["a"], [7]):
        current = json.dumps({"format": "assethub.tree.v2", "entries": rows}).encode()
        legacy = zlib.compress(json.dumps({"format": "assethub.tree.v1", "entries": rows}).encode())
        for data in (current, legacy):
            with pytest.raises(IntegrityError, match="unreadable"):
                Tree.decode(data)

"""The real ``assethub`` command: outputs, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext.cli import COMMANDS

Cli = Callable[..., subprocess.CompletedProcess[str]]
DS = "alice/dataset/cv/digits"
M = "alice/model/cls/net"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_dataset_round_trip(cli: Cli, tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"a.csv": "1", "b/c.csv": "2"})
    ok(cli("init"))
    assert ok(cli("create", DS)).strip() == DS
    assert "2 added" in ok(cli("add", DS, str(data)))
    assert ok(cli("status", DS, str(data))).strip() == "up to date"
    assert ok(cli("publish", DS, "-m", "first")).strip() == f"{DS}:v1"
    (data / "a.csv").write_text("changed")
    assert ok(cli("status", DS, str(data))).startswith("M data/a.csv")
    status = json.loads(ok(cli("status", DS, str(data), "--json")))
    assert status == [{"path": "data/a.csv", "status": "changed", "old_size": 1, "new_size": 7}]
    ok(cli("add", DS, str(data)))
    ok(cli("publish", DS))
    ok(cli("rm", DS, "data/b"))
    assert "1 restored" in ok(cli("restore", DS, "--from", "v1", "data/b/c.csv"))
    ok(cli("derive", DS, "--from", "v1", "--force"))
    log = json.loads(ok(cli("log", DS, "--json")))
    assert [c["meta"]["version"] for c in log] == ["v2", "v1"]
    listing = json.loads(ok(cli("ls", "alice/dataset/cv", "--json")))
    assert listing[0]["latest"] == "v2"
    diff = json.loads(ok(cli("diff", f"{DS}:v1", f"{DS}:v2", "--json")))
    assert [c["path"] for c in diff["changes"]] == ["data/a.csv"]
    shown = json.loads(ok(cli("show", f"{DS}:v1", "--json", "--files")))
    assert shown["refs"] == ["v1"] and len(shown["tree"]) == 2
    out = tmp_path / "co"
    assert "2 files" in ok(cli("checkout", f"{DS}:v1", str(out), "--link", "copy"))
    assert (out / "data" / "a.csv").read_text() == "1"


def test_model_round_trip(cli: Cli, tmp_path: Path) -> None:
    w = write_files(tmp_path / "w", {"w.bin": "1"})
    ok(cli("create", M))
    ok(cli("commit", f"{M}:main", str(w), "-m", "one", "--param", "lr=0.1", "--metric", "acc=0.5"))
    log = json.loads(ok(cli("log", M, "--json")))
    assert log[0]["params"] == {"lr": 0.1} and log[0]["metrics"] == {"acc": 0.5}
    ok(cli("branch", "create", M, "exp"))
    (w / "w.bin").write_text("2")
    ok(cli("commit", f"{M}:exp", str(w), "--metric", "acc=0.9"))
    assert [b["name"] for b in json.loads(ok(cli("branch", "list", M, "--json")))] == [
        "exp",
        "main",
    ]
    assert "fast-forward" in ok(cli("merge", M, "exp"))
    ok(cli("tag", M, "best"))
    graph = json.loads(ok(cli("lineage", f"{M}:best", "--json")))
    assert len(graph["nodes"]) == 2 and graph["edges"][0]["kind"] == "parent"
    assert "deleted exp" in ok(cli("branch", "delete", M, "exp"))
    assert ok(cli("fsck")).startswith("ok:")
    assert json.loads(ok(cli("gc", "--json")))["objects_removed"] == 0


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("create", "alice/dataset/../x"), 2, "is not valid"),
        (("create", "alice/table/x"), 2, "asset type"),
        (("log", f"{DS}:v1:v2"), 2, "more than one ':'"),
        (("log", "alice/dataset/cv/ghost"), 1, "does not exist"),
        (("show", f"{DS}:v9"), 1, "no branch, tag, version or commit 'v9'"),
        (("publish", DS), 1, "nothing to publish"),
        (("branch", "create", f"{DS}:draft", "b"), 2, "datasets have no branches"),
        (("checkout", f"{DS}:draft", "co", "--link", "copy"), 0, ""),
        (("merge", DS, "main", "--into", "bad name"), 2, "not valid"),
        (("log", DS, "-n", "0"), 2, "-n must be at least 1"),
        (("lineage", DS, "--depth", "99"), 2, "--depth"),
        (("share", "alice/dataset/cv", "bob!", "read"), 2, "user name"),
        (("create", "bob/dataset/cv"), 1, "only 'bob' can create"),
    ],
)
def test_errors_are_one_line_with_the_documented_exit_code(
    cli: Cli, args: tuple[str, ...], code: int, text: str
) -> None:
    ok(cli("create", DS))
    result = cli(*args)
    if code == 0:
        ok(result)
    else:
        refused(result, code, text)


def test_usage_errors_exit_2_and_progress_stays_off_when_piped(cli: Cli, tmp_path: Path) -> None:
    assert cli("checkout").returncode == 2
    ok(cli("create", DS))
    result = cli("add", DS, str(write_files(tmp_path / "d", {"x": "y" * 100_000})))
    assert "\r" not in result.stderr and "it/s" not in result.stderr and "B/s" not in result.stderr
    assert cli("--version").stdout.startswith("assethub, version")


STATUS_PROBE = """
import sys
from assethub_ext.cli import main
sys.argv = ["assethub", "status", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    assert exit.code == 0, exit.code
heavy = ("sqlalchemy", "sqlite3", "tornado", "click", "assethub_ext.cli.", "assethub_ext.core.hub")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def test_status_loads_no_database_layer_and_no_other_command(
    cli: Cli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The hot command starts fast: no database layer (not even SQLite for an unchanged
    folder: its stamp is a file), no other command, not even click."""
    data = write_files(tmp_path / "data", {"a.csv": "1"})
    ok(cli("init"))
    ok(cli("create", DS))
    ok(cli("add", DS, str(data)))
    probe = subprocess.run(
        [sys.executable, "-c", STATUS_PROBE, DS, str(data)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    said, loaded = probe.stdout.strip().splitlines()
    assert said == "up to date"
    assert loaded == str(["assethub_ext.cli._plain"])
    listed = ok(cli("--help"))
    assert all(f"\n  {name} " in listed for name in COMMANDS), listed


def test_plain_status_answers_exactly_as_the_click_command(cli: Cli, tmp_path: Path) -> None:
    """``status PATH SRC`` skips click; after ``--`` click reads it: same output, same errors."""
    data = write_files(tmp_path / "data", {"a.csv": "1", "b.csv": "2"})
    ok(cli("init"))
    ok(cli("create", DS))
    ok(cli("add", DS, str(data)))
    (data / "a.csv").write_text("changed")
    (data / "c.csv").write_text("3")
    for line in (
        [DS, str(data)],
        [DS, str(data), "--json"],
        [DS, str(data / "a.csv"), str(data / "b.csv")],
        ["alice/dataset/../x", str(data)],
        [DS, str(tmp_path / "missing")],
        ["alice/dataset/cv/none", str(data)],
    ):
        words = [w for w in line if w != "--json"]
        plain = cli("status", *line)
        through_click = cli("status", *(["--json"] if "--json" in line else []), "--", *words)
        assert (plain.returncode, plain.stdout, plain.stderr) == (
            through_click.returncode,
            through_click.stdout,
            through_click.stderr,
        ), line
    assert cli("status", DS, str(data)).stdout.startswith("M data/a.csv")
    refused(cli("status", "alice/dataset/../x", str(data)), 2, "not valid")

"""Writes that find no room: a full disk, a quota, a file-size limit.

The real ``assethub`` command runs under ``RLIMIT_FSIZE``, so its writes fail with
``EFBIG`` part-way, as they would with ``ENOSPC`` on a full disk (Python ignores the
``SIGXFSZ`` that would otherwise kill it). An add must say so in one sentence and keep
nothing; a checkout must say so and finish when run again.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.names import parse_asset_path

DATASET = "alice/dataset/f/d"
LIMIT = 3 * 1024 * 1024


def run_limited(
    cli_env: dict[str, str], cwd: Path, *args: str, limit: int = LIMIT
) -> subprocess.CompletedProcess[str]:
    """``assethub ARGS`` in a process that may write no file beyond ``limit`` bytes."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "assethub_ext", *args],
        env=cli_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=limit_file_size,
    )


def draft_state(hub: Hub) -> tuple[str, int]:
    """The draft's tree and revision, read without snapshotting it."""
    with hub.meta.read() as conn:
        draft = hub.catalog.draft(conn, hub._asset(conn, parse_asset_path(DATASET)).id)
        return draft.tree, draft.revision


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def nothing_left_and_a_retry_succeeds(hub: Hub, src: Path, out: Path) -> None:
    """No file of the failed add stays in the store, and the same add then works whole."""
    assert not list((Path(hub.config.store) / "tmp").iterdir()), "the aborted batch left files"
    report = hub.fsck()
    assert report.ok, report.problems
    hub.add(DATASET, [str(src)])
    hub.checkout(f"{DATASET}:draft", str(out))
    assert read_files(out / src.name) == read_files(src)


SOURCES = {
    # 3,000 small files: several groups of the pack are written before the limit is hit
    "packed": {f"d{i % 30:02d}/f{i:05d}.bin": f"{i:05d}" * 400 for i in range(3000)},
    # one file too large for the limit, stored loose
    "loose": {"big.bin": "x" * (LIMIT + 4096), "small.txt": "small"},
}


@pytest.mark.parametrize("shape", sorted(SOURCES))
def test_an_add_that_finds_no_room_keeps_nothing_and_a_retry_succeeds(
    shape: str, hub: Hub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    hub.create(DATASET)
    hub.add(DATASET, [str(write_files(tmp_path / "seed", {"seed.txt": "seed"}))])
    before = draft_state(hub)
    src = write_files(tmp_path / "data", SOURCES[shape])

    line = one_error_line(run_limited(cli_env, tmp_path, "add", DATASET, str(src)))

    assert line.startswith("error: the object store in "), line
    assert "could not be written (file too large); nothing was kept" in line, line
    assert draft_state(hub) == before
    nothing_left_and_a_retry_succeeds(hub, src, tmp_path / "out")


def test_an_add_whose_workspace_index_finds_no_room_says_so_and_a_retry_records_it(
    hub: Hub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """12,000 tiny files: their pack fits under 1 MiB, their rows in the index do not."""
    hub.create(DATASET)
    src = write_files(
        tmp_path / "tiny", {f"d{i % 40:02d}/f{i:05d}.txt": str(i) for i in range(12000)}
    )

    result = run_limited(cli_env, tmp_path, "add", DATASET, str(src), limit=1024 * 1024)

    line = one_error_line(result)
    assert line.startswith("error: the workspace index "), line
    assert "could not be written (" in line and "make room and run the command again" in line
    nothing_left_and_a_retry_succeeds(hub, src, tmp_path / "out")
    assert hub.status(DATASET, [str(src)]) == []


def test_a_checkout_that_finds_no_room_says_so_and_finishes_when_run_again(
    hub: Hub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    hub.create(DATASET)
    src = write_files(tmp_path / "data", SOURCES["loose"])
    hub.add(DATASET, [str(src)])
    version = hub.publish(DATASET).version
    dest = tmp_path / "out"

    args = ("checkout", f"{DATASET}:{version}", str(dest), "--link", "copy")
    line = one_error_line(run_limited(cli_env, tmp_path, *args))

    assert line.startswith(f"error: the checkout into '{dest}' could not be written"), line
    assert "(file too large); make room and run it again" in line, line
    hub.checkout(f"{DATASET}:{version}", str(dest), link="copy")
    assert read_files(dest / "data") == read_files(src)

"""Materialisation: link modes, in-place updates that never lose local edits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import Conflict, InvalidInput

M = "alice/model/cls/net"
BIG = os.urandom(2 * 1024 * 1024)


@pytest.fixture
def model(hub: Hub, tmp_path: Path) -> Hub:
    hub.create(M)
    hub.commit(
        f"{M}:main",
        str(
            write_files(
                tmp_path / "v1", {"big.bin": BIG, "small.txt": "s1", "run.sh": "#!/bin/sh\n"}
            )
        ),
    )
    (tmp_path / "v1" / "run.sh").chmod(0o755)
    hub.commit(f"{M}:main", str(tmp_path / "v1"))
    return hub


def test_hardlink_mode_shares_the_read_only_object(model: Hub, tmp_path: Path) -> None:
    done = model.checkout(M, str(tmp_path / "co"), link="hardlink")
    big = tmp_path / "co" / "big.bin"
    assert big.read_bytes() == BIG
    assert big.stat().st_nlink >= 2 and not big.stat().st_mode & 0o222
    assert done.report.methods["hardlink"] == 1 and done.report.methods["copy"] == 2


def test_copy_mode_keeps_modes_and_auto_falls_back(model: Hub, tmp_path: Path) -> None:
    model.checkout(M, str(tmp_path / "copy"), link="copy")
    assert (tmp_path / "copy" / "big.bin").stat().st_nlink == 1
    assert os.stat(tmp_path / "copy" / "run.sh").st_mode & stat.S_IXUSR
    auto = model.checkout(M, str(tmp_path / "auto"))
    assert set(auto.report.methods) <= {"reflink", "hardlink", "copy"}
    with pytest.raises(InvalidInput):
        model.checkout(M, str(tmp_path / "x"), link="symlink")  # type: ignore[arg-type]


def test_update_in_place_and_refuse_to_lose_edits(model: Hub, tmp_path: Path) -> None:
    first = model.log(M)[-1].id
    dest = tmp_path / "work"
    model.checkout(f"{M}:{first}", str(dest))
    model.commit(
        f"{M}:main", str(write_files(tmp_path / "v2", {"small.txt": "s2", "new.txt": "n"}))
    )
    done = model.checkout(M, str(dest))
    assert read_files(dest) == {"small.txt": b"s2", "new.txt": b"n"}
    assert done.report.removed == 3  # big.bin and run.sh dropped, small.txt replaced
    (dest / "small.txt").write_text("my local edit")
    with pytest.raises(Conflict, match="modified since it was checked out"):
        model.checkout(f"{M}:{first}", str(dest))
    assert (dest / "small.txt").read_text() == "my local edit"
    model.checkout(f"{M}:{first}", str(dest), force=True)
    assert (dest / "small.txt").read_bytes() == b"s1"


def test_refuses_a_non_empty_foreign_folder_and_a_file(model: Hub, tmp_path: Path) -> None:
    write_files(tmp_path / "busy", {"mine.txt": "keep"})
    with pytest.raises(Conflict, match="not empty"):
        model.checkout(M, str(tmp_path / "busy"))
    assert read_files(tmp_path / "busy") == {"mine.txt": b"keep"}
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInput, match="not a folder"):
        model.checkout(M, str(tmp_path / "afile"))

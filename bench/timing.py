"""Timing one command as a whole subprocess: wall time and peak RSS, start-up included.

Why a subprocess per step: users pay interpreter start-up and imports on every command, so
a fair comparison with DVC (also a Python CLI) has to include them. Wall time and peak RSS
come from ``os.wait4`` in ``launcher.py`` (why a launcher: see there): ``ru_maxrss`` of the
reaped command, which on Linux also covers the descendants it waited for (DVC's ``git``
calls), and costs nothing to collect.

Dirty pages are flushed with ``sync`` before every timed step and outside the timed window:
otherwise whichever step comes after a large write pays for that write's writeback (measured
on the reference machine: copying 1 GiB took 0.35 s or 3.2 s depending on it).
"""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


def compile_sources(folder: Path) -> None:
    """Byte-compile Asset Hub's sources, as ``pip install`` does for its peers' packages.

    An editable install runs from the source tree, and with ``PYTHONDONTWRITEBYTECODE``
    set (as on this project's machines) every command would compile every module it
    imports again: tens of milliseconds that a user's installed copy never pays.
    """
    compileall.compile_dir(str(folder), quiet=1)


@dataclass(frozen=True)
class Sample:
    """One timed run of one command."""

    seconds: float
    peak_rss: int
    """Bytes (``ru_maxrss`` is KiB on Linux)."""
    stdout: str


class StepFailed(RuntimeError):
    """A command exited non-zero; carries everything needed to report it verbatim."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(f"`{' '.join(argv)}` exited {returncode}: {stderr.strip()}")


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", errors="replace")


def run_timed(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Sample:
    """Run ``argv`` once through the launcher, after a ``sync``; ``StepFailed`` if it fails.

    Output goes to temporary files rather than pipes, so nothing has to be read while the
    command runs and a chatty command can never block on a full pipe.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as scratch,
    ):
        result = Path(scratch) / "sample.json"
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(result), "--", *argv]
        os.sync()
        done = subprocess.run(
            launcher, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        stdout, stderr = _read(out), _read(err)
        if done.returncode != 0 or not result.exists():
            raise StepFailed(argv, done.returncode, stdout, stderr)
        measured = json.loads(result.read_text(encoding="utf-8"))
    if measured["returncode"] != 0:
        raise StepFailed(argv, measured["returncode"], stdout, stderr)
    return Sample(seconds=measured["seconds"], peak_rss=measured["peak_rss"], stdout=stdout)


def rss_floor() -> int:
    """The peak RSS reported for a command that does nothing: the launcher's own footprint,
    below which no figure in the table can go."""
    return run_timed(["true"], cwd=Path.cwd(), env=os.environ).peak_rss


def run_quiet(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> str:
    """Run an untimed set-up command (``git init``, ``dvc init``); its stdout, or ``StepFailed``."""
    done = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise StepFailed(argv, done.returncode, done.stdout, done.stderr)
    return done.stdout

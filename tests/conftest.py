"""Shared fixtures: real hubs in temporary folders, and the real ``assethub`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assethub_ext import Hub


def write_files(root: Path, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``; returns ``root``."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def read_files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` except the checkout marker, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".assethub-checkout"
    }


@pytest.fixture
def hub_home(tmp_path: Path) -> Path:
    return tmp_path / "hub"


@pytest.fixture
def make_hub(hub_home: Path) -> Iterator[Callable[..., Hub]]:
    """Open the test hub as a given user (several users share one hub)."""
    opened: list[Hub] = []

    def factory(user: str = "alice") -> Hub:
        hub = Hub(str(hub_home), user=user)
        opened.append(hub)
        return hub

    yield factory
    for hub in opened:
        hub.close()


@pytest.fixture
def hub(make_hub: Callable[..., Hub]) -> Hub:
    return make_hub("alice")


@pytest.fixture
def cli_env(hub_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETHUB_")}
    env.update(ASSETHUB_HOME=str(hub_home), ASSETHUB_USER="alice")
    return env


@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``assethub`` command (as a subprocess) against the test hub."""

    def run(
        *args: str, user: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(cli_env)
        if user is not None:
            env["ASSETHUB_USER"] = user
        return subprocess.run(
            [sys.executable, "-m", "assethub_ext", *args],
            env=env,
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return run

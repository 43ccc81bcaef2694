"""Shared fixtures: real hubs on every backend, and the real ``assethub`` command.

A hub's backend is a metadata database (SQLite or PostgreSQL) and an object store (a local
folder or S3). The store-level test files run against all four combinations (real
PostgreSQL and a real S3-protocol server, see ``servers.py``); the rest run on the embedded
SQLite + local folder. ``pytest --backends sqlite-local`` narrows a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import PostgresServer, S3Server

from assethub_ext import Hub

BACKENDS = ("sqlite-local", "sqlite-s3", "postgres-local", "postgres-s3")
STORE_MODULES = {
    "test_datasets",
    "test_models",
    "test_checkout",
    "test_maintenance",
    "test_permissions",
    "test_concurrency",
    "test_browse",
    "test_team",
}
"""Test files whose every test runs on each backend; the others use SQLite + local."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated backends for the store tests (of {', '.join(BACKENDS)})",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = [b for b in metafunc.config.getoption("backends").split(",") if b in BACKENDS]
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    wanted = chosen if module in STORE_MODULES else ["sqlite-local"]
    only = metafunc.definition.get_closest_marker("backends")
    if only is not None:  # a test about one kind of database or store
        wanted = [b for b in wanted if b in only.args]
    metafunc.parametrize("backend", wanted, scope="function")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def backend_env(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The environment naming this test's hub backend (a fresh database and bucket), also set
    in this process, so that ``Hub(home)`` and subprocesses alike open the same hub."""
    db, store = backend.split("-")
    env: dict[str, str] = {}
    if db == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres")
        env["ASSETHUB_DB"] = pg.database()
    if store == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket = s3.bucket()
        env.update(s3.env, ASSETHUB_STORE=f"s3://{bucket}/hub")
    for name in ("ASSETHUB_DB", "ASSETHUB_STORE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env
    if store == "s3":
        s3.drop(bucket)
    if db == "postgres":
        pg.drop(env["ASSETHUB_DB"])


def subprocess_env() -> dict[str, str]:
    """The environment for a subprocess that opens the test hub: of the ``ASSETHUB_*``
    variables only the backend's (``backend_env`` set them for this test) are kept."""
    backend = ("ASSETHUB_DB", "ASSETHUB_STORE")
    return {k: v for k, v in os.environ.items() if not k.startswith("ASSETHUB_") or k in backend}


def write_notebook(path: Path, parameters: str, *cells: str) -> None:
    """A Python notebook whose first cell is papermill's ``parameters`` cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


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
def hub_home(tmp_path: Path, backend_env: dict[str, str]) -> Path:
    """The hub's home (SQLite, local store, caches); the backend may keep its data elsewhere."""
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
    return {**subprocess_env(), "ASSETHUB_HOME": str(hub_home), "ASSETHUB_USER": "alice"}


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

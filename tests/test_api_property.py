"""Property-based run of the whole API from openapi.yaml (schemathesis) against a live server.

A real ``jupyter server`` runs as a subprocess on loopback, with a token, over a small hub
made here; schemathesis generates valid and invalid requests for every operation and
checks that none gets a 5xx and that every response matches the spec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_files
from servers import free_port, wait_until_answering

from assethub_ext import Hub
from assethub_ext.core.pins import PinFile, lock_path_for

SPEC = Path(__file__).parents[1] / "assethub_ext" / "server" / "openapi.yaml"
TOKEN = "schemathesis-test-token"


def make_small_hub(home: Path, work: Path, root: Path) -> None:
    """The names in openapi.yaml's examples, so that generated requests also find things."""
    write_files(root / "work", {"train.ipynb": "{}"})
    with Hub(str(home), user="alice") as hub:
        hub.create("alice/dataset/cv/digits", description="digits")
        hub.add("alice/dataset/cv/digits", [str(write_files(work / "d" / "data", {"a.csv": "1"}))])
        hub.publish("alice/dataset/cv/digits")
        hub.create("alice/model/cls/net")
        files = {"w.bin": b"\x00" * 100, "cfg.json": "{}"}
        hub.commit("alice/model/cls/net:main", str(write_files(work / "m1", files)))
        hub.branch_create("alice/model/cls/net:main", "exp")
        hub.commit("alice/model/cls/net:exp", str(write_files(work / "m2", {"w.bin": "2"})))
        with PinFile.editing(lock_path_for("train.ipynb", str(root / "work"))) as pins:
            hub.pin("alice/dataset/cv/digits:v1", pins)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """A jupyter server with the extension, on a free loopback port; yields the API's URL."""
    make_small_hub(tmp_path / "hub", tmp_path / "src", tmp_path / "root")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSETHUB_", "JUPYTER_"))}
    env.update(
        ASSETHUB_HOME=str(tmp_path / "hub"),
        ASSETHUB_USER="alice",
        HOME=str(tmp_path),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={tmp_path / 'root'}",
        "--ServerApp.jpserver_extensions={'assethub_ext': True}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/assethub/api"
    try:
        wait_until_answering(f"{url}/version", server, token=TOKEN)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_no_5xx_and_every_response_matches_the_spec(live_server: str, tmp_path: Path) -> None:
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(SPEC),
            "--url",
            live_server,
            "--header",
            f"Authorization: token {TOKEN}",
            "--checks",
            checks,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261122",
            "--workers",
            "2",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

"""The panel in real JupyterLab, driven by Playwright in the system's headless Chromium.

One walk through what a person does: open the panel, browse to a dataset, compare two of its
versions, pin one into a new notebook, run it and read the pinned file in the kernel; the pin
is then recorded in the saved notebook's metadata. Screenshots of each step land in
``build/screenshots/`` (look at them when this test fails).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port, wait_until_answering

from assethub_ext import Hub
from tests.conftest import subprocess_env, write_files

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
DATASET = "alice/dataset/cv/digits"
# Readiness deadlines (not timings under test): how long a slow machine may take to start.
START_DEADLINE_S = 60
UI_TIMEOUT_MS = 30_000


def fill_hub(home: Path, work: Path) -> None:
    """A dataset with two versions: v2 changes the README and adds a file."""
    with Hub(str(home), user="alice") as hub:
        hub.init()
        hub.create(DATASET, "hand-written digits")
        hub.add(DATASET, [str(write_files(work / "v1" / "data", {"README.md": "digits one\n"}))])
        hub.publish(DATASET, "first thousand")
        v2 = {"README.md": "digits two\n", "labels.csv": "label\n3\n"}
        hub.add(DATASET, [str(write_files(work / "v2" / "data", v2))])
        hub.publish(DATASET, "all of them")


def quiet_settings(folder: Path) -> Path:
    """User settings that keep JupyterLab from asking about its news feed mid-test."""
    notification = (
        folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    return folder


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """JupyterLab on a free loopback port over a hub filled here; yields (url, token, root)."""
    home, root = tmp_path / "hub", tmp_path / "notebooks"
    root.mkdir()
    fill_hub(home, tmp_path / "work")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **subprocess_env(),
        "ASSETHUB_HOME": str(home),
        "ASSETHUB_USER": "alice",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(quiet_settings(tmp_path / "lab-settings")),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
    }
    args = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
    ]  # fmt: skip
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/api/status", proc, token=token, deadline_s=START_DEADLINE_S)
        yield url, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def new_notebook(root: Path, name: str, cells: list[str]) -> None:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "source": s, "metadata": {}, "outputs": [],
             "execution_count": None}
            for i, s in enumerate(cells)
        ],
    }  # fmt: skip
    (root / name).write_text(json.dumps(nb))


def test_browse_compare_pin_and_run(lab: tuple[str, str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token, root = lab
    new_notebook(root, "pin.ipynb", ["print(open('digits/data/README.md').read())"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            page.goto(f"{url}/lab/tree/pin.ipynb?token={token}")
            walk(page, expect)
        finally:
            page.screenshot(path=str(SHOTS / "last.png"))
            browser.close()
    saved = json.loads((root / "pin.ipynb").read_text())
    pins = saved["metadata"]["assethub"]["pins"]
    assert pins[DATASET]["ref"] == f"{DATASET}:v1"
    assert "".join(saved["cells"][0]["source"]).endswith(f"%asset pin {DATASET}:v1")


def walk(page, expect) -> None:  # type: ignore[no-untyped-def]
    """Each step a person takes, with a screenshot after it."""
    panel = page.locator("#assethub-panel")
    page.locator('li[data-id="assethub-panel"]').click()
    expect(panel.locator('[data-status="ok"]')).to_be_visible()
    expect(panel).to_contain_text("pin.ipynb pins nothing yet")
    page.screenshot(path=str(SHOTS / "1-panel.png"))

    panel.locator('.jp-AssetHub-folder[data-path="alice/dataset/cv"]').click()
    panel.locator(f'.jp-AssetHub-asset[data-path="{DATASET}"]').click()
    expect(panel.locator('.jp-AssetHub-ref[data-ref="v2"]')).to_contain_text("published")
    page.screenshot(path=str(SHOTS / "2-dataset.png"))

    panel.get_by_label("Compare from").select_option("v1")
    panel.get_by_label("Compare to").select_option("v2")
    panel.locator(".jp-AssetHub-compare").click()
    changes = panel.locator(".jp-AssetHub-changes")
    expect(changes.locator(".jp-AssetHub-added")).to_contain_text("data/labels.csv")
    expect(changes.locator(".jp-AssetHub-changed")).to_contain_text("data/README.md")
    page.screenshot(path=str(SHOTS / "3-compare.png"))

    panel.locator(".jp-AssetHub-back").click()
    panel.locator('.jp-AssetHub-ref[data-ref="v1"] .jp-AssetHub-pin').click()
    first_cell = page.locator(".jp-Notebook .jp-Cell").first
    expect(first_cell).to_contain_text(f"%asset pin {DATASET}:v1")
    page.screenshot(path=str(SHOTS / "4-pinned-cell.png"))

    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    expect(outputs.filter(has_text="digits one")).to_have_count(1)
    expect(panel.locator(f'.jp-AssetHub-notebook [data-ref="{DATASET}:v1"]')).to_be_visible()
    page.screenshot(path=str(SHOTS / "5-ran.png"))
    panel.screenshot(path=str(SHOTS / "panel.png"))

    page.locator(".jp-Notebook").first.click()
    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)

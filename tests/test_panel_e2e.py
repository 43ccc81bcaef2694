"""The panel in real JupyterLab, driven by Playwright in the system's headless Chromium.

One JupyterLab and one browser serve the whole module. The walks are what a person does:
browse to a dataset, compare two versions, pin one into a new notebook, run it and read the
pinned file in the kernel (the pin lands in the saved notebook's metadata), then move the pin
to the latest version; open a model, read its metric chart, make a branch from the panel
(checked through the Python API), follow the lineage graph to the dataset it was made from,
see a tag made by the CLI appear without a reload, and read a sweep's trials; and the panel
in JupyterLab's dark theme. Screenshots of each step land in ``build/screenshots/``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from servers import free_port, wait_until_answering

import assethub_ext
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
MODEL = "alice/model/cls/net"
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
        fill_model(hub, work)


def fill_model(hub: Hub, work: Path) -> None:
    """A model trained on the dataset's v1: main and exp with metrics, and a PBT sweep of two
    trials in which t0001 exploits t0000 (laid down as the sweep contract says)."""
    hub.create(MODEL, "a classifier")
    for step, acc in enumerate((0.6, 0.7, 0.8)):
        files = write_files(work / f"m{step}", {"w.bin": f"main{step}"})
        hub.commit(f"{MODEL}:main", str(files), metrics={"acc": acc}, inputs=[f"{DATASET}:v1"])
    hub.branch_create(f"{MODEL}:main", "exp")
    hub.commit(f"{MODEL}:exp", str(write_files(work / "e", {"w.bin": "e"})), metrics={"acc": 0.9})
    donor: dict[str, str] = {}
    for trial, values in (("t0000", (0.5, 0.7)), ("t0001", (0.3, 0.4))):
        hub.branch_create(f"{MODEL}:main", f"sweeps/pbt1/{trial}")
        for step, value in enumerate(values, start=1):
            donor[trial] = sweep_checkpoint(hub, work, trial, step, value, {"event": "checkpoint"})
    exploit = {"event": "exploit", "source": {"trial": "t0000", "commit": donor["t0000"]}}
    sweep_checkpoint(hub, work, "t0001", 3, 0.72, exploit, inputs=[f"{MODEL}:{donor['t0000']}"])


def sweep_checkpoint(
    hub: Hub,
    work: Path,
    trial: str,
    step: int,
    value: float,
    event: dict[str, object],
    **kw: object,
) -> str:
    files = write_files(work / f"{trial}-{step}", {"w.bin": f"{trial}{step}"})
    meta = {"study": "pbt1", "trial": trial, "step": step, "algorithm": "pbt", **event}
    return hub.commit(
        f"{MODEL}:sweeps/pbt1/{trial}",
        str(files),
        params={"lr": 0.1 * (step + 1)},
        metrics={"val_accuracy": value},
        metadata={"sweep": meta},
        **kw,  # type: ignore[arg-type]
    ).id


def quiet_settings(folder: Path) -> Path:
    """User settings that keep JupyterLab from asking about its news feed mid-test."""
    notification = (
        folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    return folder


def this_checkouts_labextension(data: Path) -> Path:
    """A Jupyter data folder whose labextension is the one built from this checkout.

    JUPYTER_PATH comes first when JupyterLab looks for extensions, so the test drives the
    frontend built here (``jlpm build``), whatever the environment has linked.
    """
    built = Path(assethub_ext.__file__).parent / "labextension"
    if not (built / "package.json").is_file():
        pytest.fail("the panel is not built: run 'jlpm build' (make setup does) first.")
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "assethub-ext").symlink_to(built, target_is_directory=True)
    return data


class Lab(NamedTuple):
    url: str
    token: str
    root: Path
    home: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on a free loopback port over a hub filled here, for the whole module."""
    tmp_path = tmp_path_factory.mktemp("lab")
    home, root = tmp_path / "hub", tmp_path / "notebooks"
    root.mkdir()
    fill_hub(home, tmp_path / "work")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **subprocess_env(),
        "JUPYTER_PATH": str(this_checkouts_labextension(tmp_path / "jupyter-data")),
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
        yield Lab(url, token, root, home, env)
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


@pytest.fixture(scope="module")
def browser(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module's walks."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab; its last sight is saved as ``<test name>-last.png``."""
    tab = browser.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield tab
    finally:
        tab.screenshot(path=str(SHOTS / f"{request.node.name}-last.png"))
        tab.close()


def goto(page: Any, lab: Lab, path: str) -> None:
    """Open ``path`` in a workspace of its own, so no layout is restored from another walk."""
    page.goto(f"{lab.url}/lab/workspaces/{secrets.token_hex(4)}/tree/{path}?token={lab.token}")


def open_panel(page: Any, lab: Lab, path: str) -> Any:
    from playwright.sync_api import expect

    goto(page, lab, path)
    panel = page.locator("#assethub-panel")
    page.locator('li[data-id="assethub-panel"]').click()
    expect(panel.locator('[data-status="ok"]')).to_be_visible()
    return panel


def test_browse_compare_pin_and_run(lab: Lab, page: Any) -> None:
    from playwright.sync_api import expect

    new_notebook(lab.root, "pin.ipynb", ["print(open('digits/data/README.md').read())"])
    goto(page, lab, "pin.ipynb")
    walk(page, expect)
    saved = json.loads((lab.root / "pin.ipynb").read_text())
    pins = saved["metadata"]["assethub"]["pins"]
    assert pins[DATASET]["ref"] == f"{DATASET}:v1"
    assert "".join(saved["cells"][0]["source"]).endswith(f"%asset pin {DATASET}:v1")
    # v2 is newer than the pinned v1: one click moves the pin line to the latest
    panel = page.locator("#assethub-panel")
    pinned = panel.locator(f'.jp-AssetHub-notebook [data-ref="{DATASET}:v1"]')
    expect(pinned.locator(".jp-AssetHub-newer")).to_be_visible()
    pinned.get_by_role("button", name="Move to latest").click()
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_contain_text(
        f"%asset pin {DATASET}:main --update"
    )
    page.screenshot(path=str(SHOTS / "6-moved-to-latest.png"))


def walk(page, expect) -> None:  # type: ignore[no-untyped-def]
    """Each step a person takes with a dataset, with a screenshot after it."""
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


def test_model_chart_branch_lineage_refresh_and_sweep(lab: Lab, page: Any) -> None:
    from playwright.sync_api import expect

    new_notebook(lab.root, "model.ipynb", ["1"])
    panel = open_panel(page, lab, "model.ipynb")
    panel.locator('.jp-AssetHub-folder[data-path="alice/model/cls"]').click()
    panel.locator(f'.jp-AssetHub-asset[data-path="{MODEL}"]').click()
    chart = panel.locator(".jp-AssetHub-metric-chart")
    expect(chart.locator('g[data-series="main"] circle.jp-AssetHub-point')).to_have_count(3)
    expect(chart.locator('g[data-series="exp"] circle.jp-AssetHub-point')).to_have_count(4)
    page.screenshot(path=str(SHOTS / "7-model-chart.png"))

    panel.get_by_label("New branch or tag name").fill("from-panel")
    panel.get_by_role("button", name="Branch from main").click()
    expect(panel.locator(".jp-AssetHub-status", has_text="branch from-panel made")).to_be_visible()
    with Hub(str(lab.home), user="alice") as hub:
        main = hub.resolve_commit(f"{MODEL}:main")[1].id
        assert hub.resolve_commit(f"{MODEL}:from-panel")[1].id == main
    expect(panel.locator('.jp-AssetHub-ref[data-ref="from-panel"]')).to_be_visible()

    # a tag made by the CLI in another process shows up without touching the panel
    done = subprocess.run(
        [sys.executable, "-m", "assethub_ext", "tag", f"{MODEL}:exp", "from-cli"],
        env=lab.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expect(panel.locator('.jp-AssetHub-ref[data-ref="from-cli"]')).to_be_visible()

    panel.locator('.jp-AssetHub-ref[data-ref="main"] > .jp-AssetHub-link').click()
    graph = panel.locator(".jp-AssetHub-lineage")
    expect(graph.locator(".jp-AssetHub-root")).to_be_visible()
    page.screenshot(path=str(SHOTS / "8-lineage.png"))
    graph.locator(f'g[aria-label="{DATASET} v1"]').click()
    expect(panel.locator(".jp-AssetHub-commit-view")).to_contain_text(f"{DATASET}:")
    expect(panel.locator(".jp-AssetHub-commit-view .jp-AssetHub-dim").first).to_contain_text("v1")

    panel.get_by_role("button", name="Back").click()
    panel.get_by_role("button", name="Back").click()
    panel.locator('.jp-AssetHub-study[data-study="pbt1"]').click()
    trials = panel.locator(".jp-AssetHub-trials tbody tr")
    expect(trials).to_have_count(2)
    expect(panel.locator('.jp-AssetHub-trials tr[data-trial="t0001"]')).to_contain_text("0.72")
    objective = panel.locator(".jp-AssetHub-sweep-view .jp-AssetHub-chart")
    expect(objective.locator("circle.jp-AssetHub-point")).to_have_count(5)
    expect(panel.locator(".jp-AssetHub-family .jp-AssetHub-edge-exploit")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "9-sweep.png"))
    panel.screenshot(path=str(SHOTS / "panel-sweep.png"))


def _colors(panel: Any) -> dict[str, str]:
    return panel.evaluate(
        """el => {
            const style = getComputedStyle(el);
            const text = getComputedStyle(el.querySelector('.jp-AssetHub-heading'));
            return {background: style.backgroundColor, text: text.color};
        }"""
    )


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""

    def luminance(color: str) -> float:
        parts = [int(v) / 255 for v in color[color.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_dark_theme_keeps_the_panel_readable(lab: Lab, page: Any) -> None:
    from playwright.sync_api import expect

    new_notebook(lab.root, "theme.ipynb", ["1"])
    panel = open_panel(page, lab, "theme.ipynb")
    light = _colors(panel)
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').click()
    page.locator('.lm-Menu-itemLabel:text-is("JupyterLab Dark")').click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    expect(panel).not_to_have_css("background-color", light["background"])
    dark = _colors(panel)
    assert dark["background"] != light["background"] and dark["text"] != light["text"]
    assert _contrast(dark["background"], dark["text"]) >= 4.5, dark
    assert _contrast(light["background"], light["text"]) >= 4.5, light
    panel.screenshot(path=str(SHOTS / "panel-dark.png"))
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').click()
    page.locator('.lm-Menu-itemLabel:text-is("JupyterLab Light")').click()

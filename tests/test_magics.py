"""``%asset`` in real kernels: notebooks executed by papermill and nbclient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from conftest import write_files
from nbclient import NotebookClient

from assethub_ext import Hub
from assethub_ext.core.hashing import hash_bytes
from assethub_ext.core.pins import PinFile

D = "alice/dataset/cv/digits"
M = "alice/model/cv/net"

pytestmark = pytest.mark.slow


@pytest.fixture
def kernel_env(hub_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernels inherit the environment: they open the test hub as alice."""
    monkeypatch.setenv("ASSETHUB_HOME", str(hub_home))
    monkeypatch.setenv("ASSETHUB_USER", "alice")
    for name in ("ASSETHUB_NOTEBOOK", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    return hub_home


def publish(hub: Hub, folder: Path, text: str) -> None:
    write_files(folder, {"digits.csv": text})
    hub.add(D, [str(folder / "digits.csv")])
    hub.publish(D)


@pytest.fixture
def digits(hub: Hub, tmp_path: Path, kernel_env: Path) -> Hub:
    hub.create(D)
    hub.create(M)
    publish(hub, tmp_path / "src1", "v1 bytes\n")
    return hub


def write_notebook(path: Path, cells: list[str], parameters: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    if parameters:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in ["%load_ext assethub_ext", *cells]]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def run_papermill(path: Path, **parameters: Any) -> nbformat.NotebookNode:
    out = path.with_name(path.stem + "-out.ipynb")
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"PAPERMILL_INPUT_PATH": str(path), **parameters},
        cwd=str(path.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def run_nbclient(path: Path) -> nbformat.NotebookNode:
    """Execute every cell even after errors, keeping widget state, as JupyterLab would save it."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb


def texts(cell: nbformat.NotebookNode) -> str:
    """All text a cell printed or returned."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


READ_PINNED = 'data = %asset pin {ref}\nprint("BYTES", (data / "digits.csv").read_text().strip())'


def bytes_read(nb: nbformat.NotebookNode) -> str:
    line = next(line for cell in nb.cells for line in texts(cell).splitlines() if "BYTES" in line)
    return line.split("BYTES ", 1)[1]


def test_a_rerun_reads_the_pinned_bytes_until_the_pin_is_updated(
    digits: Hub, tmp_path: Path
) -> None:
    nb = write_notebook(tmp_path / "work" / "train.ipynb", [READ_PINNED], f'ref = "{D}"')
    assert bytes_read(run_papermill(nb)) == "v1 bytes"
    publish(digits, tmp_path / "src2", "v2 bytes\n")
    assert bytes_read(run_papermill(nb)) == "v1 bytes"  # main moved; the pin did not
    updated = write_notebook(
        nb, [READ_PINNED.replace("pin {ref}", "pin {ref} --update")], f'ref = "{D}"'
    )
    out = run_papermill(updated)
    assert bytes_read(out) == "v2 bytes"
    assert any("moved pin" in texts(cell) and "(v2)" in texts(cell) for cell in out.cells)
    lock = json.loads((tmp_path / "work" / "train.assethub.lock").read_text())
    assert lock["notebook"] == "train.ipynb"
    assert lock["pins"][f"{D}:main"]["commit"] == digits.show(f"{D}:v2")["commit"].id


def test_the_pin_is_announced_for_the_panel(digits: Hub, tmp_path: Path) -> None:
    out = run_papermill(write_notebook(tmp_path / "nb.ipynb", [f"%asset pin {D}:v1 --to data"]))
    [record] = [
        o["data"]["application/vnd.assethub.pin.v1+json"]
        for cell in out.cells
        for o in cell.get("outputs", [])
        if "application/vnd.assethub.pin.v1+json" in o.get("data", {})
    ]
    assert record == {
        "ref": f"{D}:v1",
        "asset": D,
        "commit": digits.show(f"{D}:v1")["commit"].id,
        "dir": "data",
        "lock": "nb.assethub.lock",
    }


def test_a_commit_records_pins_notebook_code_and_parameters(digits: Hub, tmp_path: Path) -> None:
    cells = [
        f"%asset pin {D}:v1",
        "from pathlib import Path\nPath('model').mkdir(exist_ok=True)\nPath('model/w.bin').write_bytes(b'w' * lr)",
        f"%asset commit model --to {M}:main -m trained --param lr={{lr}} --metric acc=0.9",
    ]
    nb = write_notebook(tmp_path / "nb" / "train.ipynb", cells, "lr = 1")
    run_papermill(nb, lr=3)
    commit = digits.show(M)["commit"]
    assert commit.params == {"lr": 3} and commit.metrics == {"acc": 0.9}
    dataset_commit = digits.show(f"{D}:v1")["commit"].id
    assert [i["commit"] for i in commit.lineage["inputs"]] == [dataset_commit]
    assert commit.lineage["pins"] == [{"ref": f"{D}:v1", "commit": dataset_commit}]
    caller = commit.lineage["caller"]
    code = [c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code"]
    assert caller["path"] == str(nb) and caller["code_source"] == "file"
    assert caller["code_hash"] == hash_bytes("\n\x00\n".join(code).encode())
    assert commit.lineage["papermill"] == {"parameters": {"lr": 3}}
    graph = digits.lineage(M)
    assert {"from": dataset_commit, "to": commit.id, "kind": "input"} in graph.edges


def test_a_dataset_change_goes_to_the_draft_and_publishes(digits: Hub, tmp_path: Path) -> None:
    write_files(tmp_path / "nb" / "extra", {"more.csv": "more"})
    nb = write_notebook(
        tmp_path / "nb" / "prep.ipynb", [f"%asset commit extra --to {D} --publish -m more"]
    )
    out = run_papermill(nb)
    assert f"published {D}:v2" in texts(out.cells[-1])
    assert "extra/more.csv" in digits.show(f"{D}:v2")["tree"]


def test_log_show_diff_and_pins_are_html_tables(digits: Hub, tmp_path: Path) -> None:
    publish(digits, tmp_path / "src2", "v2 bytes\n")
    cells = [
        f"%asset pin {D}:v1",
        f"%asset log {D}",
        f"%asset show {D}:v2",
        f"%asset diff {D}:v1 {D}:v2",
        "%asset pins",
    ]
    out = run_papermill(write_notebook(tmp_path / "nb.ipynb", cells))
    html = [
        "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []))
        for cell in out.cells[-4:]
    ]
    assert all('<table class="assethub">' in h for h in html)
    v2 = digits.show(f"{D}:v2")["commit"].id
    assert v2[:12] in html[0] and "v2" in html[0]
    assert v2 in html[1]
    assert "digits.csv" in html[2] and "<td>M</td>" in html[2]
    assert "newer available" in html[3]


@pytest.mark.parametrize(
    "line, message",
    [
        ("%asset pin alice/dataset/cv/..:v1", "not valid"),
        ("%asset pin alice/dataset/cv/nope", "does not exist"),
        (f"%asset pin {D}:v9", "no branch, tag, version or commit"),
        (f"%asset pin {D} --to ../outside", "inside the notebook's folder"),
        (f"%asset pin {D} --to /etc", "inside the notebook's folder"),
        (f"%asset commit missing --to {M}:main", "missing"),
        (f"%asset commit . --to {M}:main --param nokey", "KEY=VALUE"),
        ("%asset frobnicate", "No such command"),
        ("%asset pin 'unclosed", "cannot parse"),
        ("%asset unpin alice/dataset/cv/digits", "no pin"),
    ],
)
def test_errors_are_one_line_in_the_cell(
    digits: Hub, tmp_path: Path, line: str, message: str
) -> None:
    nb = run_nbclient(write_notebook(tmp_path / "nb.ipynb", [line, "print('after')"]))
    [error] = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(error.traceback) == 1 and error.traceback[0].startswith("error: ")
    assert message in error.traceback[0]
    assert "after" in texts(nb.cells[2])  # a failed magic leaves the kernel fine
    assert not list((tmp_path).glob("*.assethub.lock")) or "unpin" in line


def test_browse_navigates_and_pins_with_the_button(digits: Hub, tmp_path: Path) -> None:
    publish(digits, tmp_path / "src2", "v2 bytes\n")
    cells = [
        "b = %asset browse\nb",
        "print('FOLDERS', [v for _, v in b.listing.options])",
        "b.listing.value = 'alice/dataset/cv'\nprint('ASSETS', [v for _, v in b.listing.options])",
        f"b.listing.value = '{D}'\nprint('REFS', [v for _, v in b.refs.options])",
        "b.refs.value = 'v1'\nb.pin_button.click()\nprint('MESSAGE', b.message.value)",
        "b.navigate('alice/dataset/nothing')\nprint('ERROR', b.message.value)",
    ]
    nb = run_nbclient(write_notebook(tmp_path / "nb.ipynb", cells))
    printed = "\n".join(texts(cell) for cell in nb.cells)
    assert "FOLDERS ['alice/dataset/cv', 'alice/model/cv']" in printed
    assert f"ASSETS ['{D}']" in printed
    assert "REFS ['v2', 'v1', 'main', 'draft']" in printed
    assert f"MESSAGE <span>pinned {D}:v1" in printed
    assert "ERROR <span>error: " in printed
    views = [
        o
        for o in nb.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views, "the browser is displayed as a widget"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["model_name"] == "SelectModel" for m in state.values())
    assert PinFile.load(str(tmp_path / "assethub.lock")).pins[f"{D}:v1"].dir == "digits"


def test_jupyterlab_session_name_names_the_lock_file(
    digits: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = write_notebook(tmp_path / "lab" / "explore.ipynb", [f"%asset pin {D}:v1"])
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))  # what jupyter-server gives its kernels
    run_nbclient(nb)
    assert f"{D}:v1" in PinFile.load(str(tmp_path / "lab" / "explore.assethub.lock")).pins


def test_unknown_notebook_keeps_pins_in_the_folder_lock(digits: Hub, tmp_path: Path) -> None:
    run_nbclient(
        write_notebook(tmp_path / "anon" / "x.ipynb", [f"%asset pin {D}:v1", "%asset unpin " + D])
    )
    assert PinFile.load(str(tmp_path / "anon" / "assethub.lock")).pins == {}


def test_cell_form_runs_one_command_per_line(digits: Hub, tmp_path: Path) -> None:
    nb = run_nbclient(
        write_notebook(tmp_path / "nb.ipynb", [f"%%asset pin\n{D}:v1 --to one\n{D}:main --to two"])
    )
    pins = PinFile.load(str(tmp_path / "assethub.lock")).pins
    assert {p.dir for p in pins.values()} == {"one", "two"}
    assert not [o for o in nb.cells[1].outputs if o.output_type == "error"]


def test_terminal_ipython_prints_plain_text(
    digits: Hub, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    script = (
        f"%load_ext assethub_ext\nprint(repr(get_ipython().run_line_magic('asset', 'log {D}')))\n"
    )
    (tmp_path / "s.ipy").write_text(script)
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", str(tmp_path / "s.ipy")],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        check=False,
    )
    assert f"log of {D}" in done.stdout and "COMMIT" in done.stdout and "<table" not in done.stdout


def test_a_big_pin_shows_an_ipywidgets_progress_bar(digits: Hub, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    (big / "weights.bin").write_bytes(b"\x01" * (33 * 1024 * 1024))
    digits.add(D, [str(big / "weights.bin")])
    digits.publish(D)
    nb = run_nbclient(
        write_notebook(
            tmp_path / "nb" / "nb.ipynb",
            [f"%asset pin {D}:v2 --to big", f"%asset pin {D}:v1 --to small"],
        )
    )

    def widgets_in(cell: nbformat.NotebookNode) -> int:
        return sum(
            "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs
        )

    assert widgets_in(nb.cells[1]) == 1  # 33 MiB: a bar
    assert widgets_in(nb.cells[2]) == 0  # a few bytes: none
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "FloatProgressModel"]
    assert bars and bars[0]["value"] == bars[0]["max"] >= 33 * 1024 * 1024  # and it finished

"""Pins in the core: resolve once, keep the commit in a lock file, move only when asked."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import InvalidInput, NotFound, PermissionDenied
from assethub_ext.core.pins import PinFile, lock_path_for

D = "alice/dataset/cv/digits"


def publish(hub: Hub, folder: Path, files: dict[str, bytes | str]) -> None:
    """Add ``files`` to the draft under their own names and publish the next version."""
    write_files(folder, files)
    hub.add(D, [str(folder / name) for name in files])
    hub.publish(D)


@pytest.fixture
def two_versions(hub: Hub, tmp_path: Path) -> Hub:
    hub.create(D)
    publish(hub, tmp_path / "v1", {"a.csv": "1\n", "b.csv": "b"})
    publish(hub, tmp_path / "v2", {"a.csv": "2\n"})
    return hub


@pytest.fixture
def lock(tmp_path: Path) -> str:
    (tmp_path / "nb").mkdir()
    return lock_path_for("train.ipynb", str(tmp_path / "nb"))


def pin(hub: Hub, lock: str, ref: str, **options: object) -> object:
    with PinFile.editing(lock, "train.ipynb") as pins:
        return hub.pin(ref, pins, **options)  # type: ignore[arg-type]


def test_lock_file_sits_beside_the_notebook(tmp_path: Path) -> None:
    assert lock_path_for("sub/train.ipynb", str(tmp_path)) == str(
        tmp_path / "sub/train.assethub.lock"
    )
    assert lock_path_for(None, str(tmp_path)) == str(tmp_path / "assethub.lock")


def test_a_pin_keeps_its_commit_until_updated(two_versions: Hub, lock: str) -> None:
    hub = two_versions
    first = pin(hub, lock, f"{D}:main")
    files = Path(lock).parent / "digits"
    assert read_files(files) == {"a.csv": b"2\n", "b.csv": b"b"}
    publish(hub, Path(lock).parent.parent / "v3", {"a.csv": "3\n"})
    again = pin(hub, lock, D)  # same key: "main" is the default ref
    assert again.pin == first.pin and not again.moved  # type: ignore[attr-defined]
    assert read_files(files)["a.csv"] == b"2\n"
    moved = pin(hub, lock, D, update=True)
    assert moved.moved and moved.previous.commit == first.pin.commit  # type: ignore[attr-defined]
    assert read_files(files)["a.csv"] == b"3\n"
    stored = json.loads(Path(lock).read_text())
    assert stored["pins"][f"{D}:main"]["commit"] == moved.pin.commit  # type: ignore[attr-defined]
    assert stored["notebook"] == "train.ipynb"


def test_status_says_when_something_newer_exists(two_versions: Hub, lock: str) -> None:
    pin(two_versions, lock, f"{D}:v1", to="old")
    pin(two_versions, lock, f"{D}:main")
    status = {s["ref"]: s for s in two_versions.pin_status(PinFile.load(lock).pins.values())}
    assert status[f"{D}:v1"]["newer"] is True
    assert status[f"{D}:main"]["newer"] is False
    assert status[f"{D}:v1"]["latest"] == status[f"{D}:main"]["commit"]


def test_status_of_a_deleted_asset_is_an_error_not_a_crash(two_versions: Hub, lock: str) -> None:
    pin(two_versions, lock, f"{D}:v1")
    two_versions.delete(D, force=True)
    [status] = two_versions.pin_status(PinFile.load(lock).pins.values())
    assert "does not exist" in status["error"] and status["newer"] is False


@pytest.mark.parametrize("folder", ["../out", "/tmp/out", "a/../../b", ".", ""])
def test_pin_folders_stay_beside_the_notebook(two_versions: Hub, lock: str, folder: str) -> None:
    with pytest.raises(InvalidInput, match="folder"):
        pin(two_versions, lock, D, to=folder)
    assert not Path(lock).exists()


def test_two_refs_cannot_share_a_folder(two_versions: Hub, lock: str) -> None:
    pin(two_versions, lock, f"{D}:v1")
    with pytest.raises(InvalidInput, match="already holds the pin"):
        pin(two_versions, lock, f"{D}:v2")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ('{"pins": {}}', "not an Asset Hub lock file"),
        ('{"assethub_lock": 1, "pins": {"x": 1}}', "not an object"),
        (
            '{"assethub_lock": 1, "pins": {"a/dataset/b/c:v1": {"asset": "a/dataset/b/c"}}}',
            "incomplete",
        ),
    ],
)
def test_malformed_lock_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.assethub.lock"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        PinFile.load(str(path))


def test_a_hostile_lock_file_cannot_send_files_outside(two_versions: Hub, lock: str) -> None:
    Path(lock).write_text(
        json.dumps(
            {
                "assethub_lock": 1,
                "pins": {f"{D}:v1": {"asset": D, "commit": "0" * 64, "dir": "../../etc"}},
            }
        )
    )
    with pytest.raises(InvalidInput, match="inside the notebook's folder"):
        PinFile.load(lock)


def test_unpin_forgets_the_pin_and_keeps_the_files(two_versions: Hub, lock: str) -> None:
    pin(two_versions, lock, f"{D}:v1")
    with PinFile.editing(lock) as pins:
        assert two_versions.unpin(D, pins).ref == f"{D}:v1"
    assert PinFile.load(lock).pins == {}
    assert (Path(lock).parent / "digits" / "a.csv").exists()
    with PinFile.editing(lock) as pins, pytest.raises(NotFound, match="no pin"):
        two_versions.unpin(D, pins)


def test_a_failed_pin_leaves_the_lock_file_alone(two_versions: Hub, lock: str) -> None:
    pin(two_versions, lock, f"{D}:v1")
    before = Path(lock).read_text()
    with pytest.raises(NotFound):
        pin(two_versions, lock, f"{D}:v9")
    with pytest.raises(InvalidInput):
        pin(two_versions, lock, "alice/dataset/cv/..:v1")
    assert Path(lock).read_text() == before


def test_pins_obey_read_permission(
    two_versions: Hub, make_hub: Callable[..., Hub], lock: str
) -> None:
    with pytest.raises(PermissionDenied):
        pin(make_hub("mallory"), lock, D)
    two_versions.share("alice/dataset/cv", "bob", "read")
    assert pin(make_hub("bob"), lock, D).pin.pinned_by == "bob"  # type: ignore[attr-defined]


def _pin_in_a_process(job: tuple[str, str, str, str]) -> str:
    home, lock, ref, folder = job
    hub = Hub(home, user="alice")
    try:
        return pin(hub, lock, ref, to=folder).pin.ref  # type: ignore[attr-defined]
    finally:
        hub.close()


def test_concurrent_pinners_keep_each_others_pins(
    two_versions: Hub, hub_home: Path, lock: str
) -> None:
    refs = [(f"{D}:v1", "one"), (f"{D}:v2", "two"), (f"{D}:main", "three")] * 2
    jobs = [(str(hub_home), lock, ref, folder) for ref, folder in refs]
    with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_pin_in_a_process, jobs))
    assert sorted(PinFile.load(lock).pins) == sorted({ref for ref, _ in refs})

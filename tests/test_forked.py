"""Half of a checkout in a forked child: the same files, the same errors, no orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import read_files, write_files

from assethub_ext import Hub
from assethub_ext.core import workspace
from assethub_ext.core.errors import IntegrityError, MergeConflict, NotFound
from assethub_ext.core.forked import can_fork, forked

DATASET = "alice/dataset/cv/many"
FILES = {f"d{n % 7}/f{n:04d}.txt": f"file {n}\n" * (n % 5 + 1) for n in range(60)}


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (and been reaped by someone) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_the_child_does_its_work_and_reports_its_progress(tmp_path: Path) -> None:
    def work(report: Callable[[int], None]) -> None:
        (tmp_path / "child").write_text(str(os.getpid()))
        for amount in (3, 4, 5):
            report(amount)

    with forked(work) as child:
        pass
    assert int((tmp_path / "child").read_text()) not in (os.getpid(), 0)
    assert child.progress() == 12


def test_what_the_work_returns_comes_back_whole() -> None:
    """More than a pipe holds at once (64 KiB), so the parent reads while the child writes."""
    sent = os.urandom(3 << 20)

    with forked(lambda report: sent, die_with_parent=False) as child:
        pass
    assert child.result == sent


@pytest.mark.parametrize(
    "error",
    [
        NotFound("asset 'x' does not exist."),
        FileExistsError(17, "File exists", "/some/where"),
        OSError(28, "No space left on device"),
    ],
)
def test_what_the_child_raises_is_raised_in_the_parent(error: BaseException) -> None:
    def work(report: Callable[[int], None]) -> None:
        raise error

    with pytest.raises(type(error)) as caught, forked(work):
        pass
    assert str(caught.value) == str(error)


def test_an_error_that_cannot_travel_is_described() -> None:
    def work(report: Callable[[int], None]) -> None:
        raise MergeConflict("2 paths conflict.", ["a", "b"])  # needs two arguments back

    with pytest.raises(RuntimeError, match=r"MergeConflict: 2 paths conflict\."), forked(work):
        pass


def test_a_child_killed_by_a_signal_is_reported() -> None:
    def work(report: Callable[[int], None]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ChildProcessError, match="killed by signal 9"), forked(work):
        pass


def test_an_error_in_the_parent_stops_the_child() -> None:
    def work(report: Callable[[int], None]) -> None:
        time.sleep(60)

    with pytest.raises(KeyError), forked(work) as child:
        raise KeyError("the parent's half failed")
    assert _gone(child.pid)


def _kill_parent_of(script: str) -> int:
    """Run ``script`` (which prints its child's pid), SIGKILL it, return the child's pid."""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    return child_pid


def test_the_child_dies_with_its_parent() -> None:
    """A SIGKILLed command leaves no writer behind (``PR_SET_PDEATHSIG``)."""
    script = (
        "import sys, time\n"
        "from assethub_ext.core.forked import forked\n"
        "with forked(lambda report: time.sleep(60)) as child:\n"
        "    print(child.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    assert _gone(_kill_parent_of(script)), "the child outlived its killed parent"


def test_a_reading_child_outliving_its_parent_ends_without_running_the_parents_code(
    tmp_path: Path,
) -> None:
    """``die_with_parent=False``: the child finishes, fails to report to the dead parent,
    and exits there; it never returns into the code after the ``with`` block."""
    after = tmp_path / "after-the-block"
    script = (
        "import os, sys, time\n"
        "from assethub_ext.core.forked import forked\n"
        "try:\n"
        "    with forked(lambda report: time.sleep(1) or b'x', die_with_parent=False) as c:\n"
        "        print(c.pid, flush=True)\n"
        "        time.sleep(60)\n"
        "except BaseException:\n"
        "    pass\n"
        f"open({str(after)!r}, 'w').write(str(os.getpid()))\n"
    )
    assert _gone(_kill_parent_of(script)), "the child did not end after its parent was killed"
    assert not after.exists(), "the child ran the parent's code after the with block"


def test_a_single_thread_process_on_linux_may_fork() -> None:
    """In a fresh interpreter: this test process may run threads of other fixtures."""
    answer = subprocess.run(
        [sys.executable, "-c", "from assethub_ext.core.forked import can_fork; print(can_fork())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert answer == str(sys.platform == "linux")


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        thread.join()


# -- a checkout split in two ---------------------------------------------------------------


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every checkout of more than 4 packed objects is split; records each split's size.

    The split is allowed here even while other fixtures' threads run (the S3 server is a
    thread): the child touches none of their locks. Whether the command may split on its
    own is what the tests above and ``test_the_command_splits...`` check.
    """
    sizes: list[int] = []
    write_split = workspace._write_split

    def spy(store, digests, *rest):  # type: ignore[no-untyped-def]
        sizes.append(len(digests))
        write_split(store, digests, *rest)

    monkeypatch.setattr(workspace, "SPLIT_AT_LEAST", 4)
    monkeypatch.setattr(workspace, "can_fork", lambda: sys.platform == "linux")
    monkeypatch.setattr(workspace, "_write_split", spy)
    return sizes


@pytest.fixture
def many(hub: Hub, tmp_path: Path) -> Hub:
    hub.create(DATASET)
    hub.add(DATASET, [str(write_files(tmp_path / "src", FILES))])
    hub.publish(DATASET)
    return hub


def test_a_split_checkout_writes_every_file(many: Hub, split: list[int], tmp_path: Path) -> None:
    done = many.checkout(f"{DATASET}:v1", str(tmp_path / "co"))
    assert split == [len(set(FILES.values()))]
    assert read_files(tmp_path / "co" / "src") == {k: v.encode() for k, v in FILES.items()}
    assert done.report.methods["copy"] == len(FILES)


def test_a_corrupt_object_in_the_childs_half_fails_the_checkout(
    many: Hub, split: list[int], tmp_path: Path
) -> None:
    tree = many.load_tree(many.resolve_commit(f"{DATASET}:v1")[1].tree)
    victim = list(dict.fromkeys(e.digest for e in tree.values()))[-1]  # the child's half
    pack, offset, _ = many.objects._locations([victim])[victim]  # type: ignore[attr-defined]
    path = many.objects._pack_path(pack)  # type: ignore[attr-defined]
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"X")
    with pytest.raises(IntegrityError, match=f"object {victim[:12]} is corrupt"):
        many.checkout(f"{DATASET}:v1", str(tmp_path / "co"))
    assert split, "the checkout was not split"


def test_a_link_planted_while_the_child_writes_is_never_followed(
    many: Hub, split: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbolic link appearing at the child's last target just before it writes there."""
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    last = sorted(FILES)[-1]
    write_new = workspace._write_new

    def planting(target: str, data: bytes, entry: object) -> None:
        if target.endswith(last):
            os.symlink(outside, target)
        write_new(target, data, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(workspace, "_write_new", planting)
    with pytest.raises(FileExistsError):
        many.checkout(f"{DATASET}:v1", str(tmp_path / "co"))
    assert split and outside.read_text() == "keep"


def test_the_command_splits_a_large_checkout_and_writes_every_byte(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """The real command (one thread, so it forks) with more objects than ``SPLIT_AT_LEAST``."""
    count = workspace.SPLIT_AT_LEAST + 200
    files = {f"d{n % 13}/f{n:05d}.bin": os.urandom(64) + n.to_bytes(4, "big") for n in range(count)}
    write_files(tmp_path / "data", files)
    assert cli("create", DATASET).returncode == 0
    added = cli("add", "--publish", DATASET, "data")
    assert added.returncode == 0, added.stderr
    done = cli("checkout", f"{DATASET}:v1", str(tmp_path / "co"))
    assert done.returncode == 0, done.stderr
    assert f"{count} files ({count} copy)" in done.stdout
    assert read_files(tmp_path / "co" / "data") == files

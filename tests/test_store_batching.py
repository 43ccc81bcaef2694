"""The local store's batched work: grouped pack writes, sorted lookups, the loose-object
index, and the garbage collector paused around many-file operations.

Each is an optimisation that must not change what is stored or what is refused: packs read
back byte for byte, a process killed between two grouped writes leaves fsck clean, a
corrupt packed object is still refused with one sentence, and trees encode exactly as
before (their hashes name commits).
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_files, subprocess_env, write_files

from assethub_ext import Hub
from assethub_ext.core.errors import IntegrityError
from assethub_ext.core.gcpause import paused_gc
from assethub_ext.core.hashing import hash_bytes
from assethub_ext.core.tree import Tree, TreeEntry
from assethub_ext.storage.local import WRITE_GROUP, WRITE_GROUP_BYTES, LocalObjectStore

DS = "alice/dataset/f/many"


def _objects(count: int, seed: int) -> list[bytes]:
    """Distinct small objects of uneven sizes, an empty one among them."""
    rng = random.Random(seed)
    return [b""] + [
        rng.randbytes(rng.randint(1, 3000)) + i.to_bytes(4, "big") for i in range(count)
    ]


def test_grouped_pack_writes_read_back_byte_for_byte(tmp_path: Path) -> None:
    objects = _objects(2 * WRITE_GROUP + 7, seed=1)
    objects += [os.urandom(1000 * 1024) for _ in range(WRITE_GROUP_BYTES // (1000 * 1024) + 1)]
    store = LocalObjectStore(str(tmp_path / "store"))
    try:
        with store.writer() as writer:
            digests = [writer.put_bytes(data) for data in objects]
            writer.commit()
        assert dict(store.read_many(digests)) == dict(zip(digests, objects, strict=True))
        packs = list((tmp_path / "store" / "packs").iterdir())
        assert len(packs) == 1
        assert packs[0].stat().st_size == sum(map(len, objects))
        assert all(store.verify(d) for d in digests)
        assert store.stray_files() == []
    finally:
        store.close()


KILLED_WRITER = r"""
import os, sys, time
from assethub_ext.storage.local import WRITE_GROUP, LocalObjectStore

store = LocalObjectStore(sys.argv[1])
writer = store.writer()
for i in range(3 * WRITE_GROUP):  # pending objects are appended every 512: groups are written
    writer.put_bytes(os.urandom(100) + i.to_bytes(4, "big"))
print("written", flush=True)
time.sleep(60)
"""


def _kill_on(line: str, script: str, *args: str) -> None:
    """Run ``script`` in a fresh interpreter and SIGKILL it once it prints ``line``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == f"{line}\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_a_writer_killed_between_grouped_writes_leaves_only_a_stray_pack(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    _kill_on("written", KILLED_WRITER, str(root))
    store = LocalObjectStore(str(root))
    try:
        assert list(store.iter_objects()) == [], "nothing of the killed batch is visible"
        stray = store.stray_files()
        assert len(stray) == 1 and stray[0].endswith(".pack")
        assert os.path.getsize(stray[0]) > 0, "groups were written before the kill"
        assert store.absent() == set()
        report = store.collect(keep=set(), older_than=float("inf"))
        assert report.stray_removed == 1 and store.stray_files() == []
    finally:
        store.close()


KILLED_ADD = r"""
import sys, time
from assethub_ext import Hub

class StopMidway:
    # a progress bar that holds the add once most files went through the writer
    def __init__(self, description, total, unit):
        self.left = int(total * 0.9)
    def update(self, n=1):
        self.left -= n
        if self.left < 0:
            print("writing", flush=True)
            time.sleep(60)
    def close(self):
        pass

Hub(sys.argv[1], user="alice").add(sys.argv[2], [sys.argv[3]], progress=StopMidway)
"""


def test_a_killed_add_of_many_files_is_fsck_clean_and_a_retry_succeeds(
    hub: Hub, hub_home: Path, tmp_path: Path
) -> None:
    objects = enumerate(_objects(3 * WRITE_GROUP, 2))
    files: dict[str, bytes | str] = {f"d{i % 7}/f{i:05d}": data for i, data in objects}
    data = write_files(tmp_path / "data", files)
    hub.create(DS)
    _kill_on("writing", KILLED_ADD, str(hub_home), DS, str(data))
    with Hub(str(hub_home), user="alice") as again:
        assert again.fsck().ok
        again.add(DS, [str(data)])
        version = str(again.publish(DS))
        assert again.fsck().ok
        out = tmp_path / "out"
        again.checkout(version, str(out), link="copy")
    assert read_files(out / "data") == files


def test_a_corrupt_packed_object_is_refused_by_a_checkout_in_one_sentence(
    hub: Hub, tmp_path: Path
) -> None:
    files: dict[str, bytes | str] = {
        f"f{i:04d}": data for i, data in enumerate(_objects(600, seed=3)[1:])
    }
    hub.create(DS)
    hub.add(DS, [str(write_files(tmp_path / "data", files))])
    version = str(hub.publish(DS))
    pack = max((Path(hub.config.store) / "packs").iterdir(), key=lambda p: p.stat().st_size)
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as handle:
        handle.seek(pack.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    out = tmp_path / "out"
    with pytest.raises(IntegrityError) as caught:
        hub.checkout(version, str(out), link="copy")
    message = str(caught.value)
    assert "corrupt" in message and "\n" not in message and message.endswith(".")
    for path in (p for p in out.rglob("*") if p.is_file() and p.name != ".assethub-checkout"):
        assert files[path.name] == path.read_bytes(), "bad bytes were written"


@pytest.mark.parametrize("loose_count", [3, 40])
def test_local_files_names_exactly_the_loose_objects(tmp_path: Path, loose_count: int) -> None:
    """Fewer loose objects than asked about (listed in one scan) or more (looked up)."""
    store = LocalObjectStore(str(tmp_path / "store"))
    try:
        loose = [tmp_path / f"l{i}" for i in range(loose_count)]
        for i, path in enumerate(loose):
            path.write_bytes(os.urandom(64) + i.to_bytes(4, "big"))
        with store.writer() as writer:
            packed = [writer.put_bytes(data) for data in _objects(20, seed=4)]
            linked = [writer.put_file(str(p), p.stat().st_size, link=True) for p in loose]
            writer.commit()
        asked = set(packed) | set(linked[:10]) | {"0" * 64}
        found = store.local_files(asked)
        assert set(found) == set(linked[:10])
        for digest, file in found.items():
            assert hash_bytes(Path(file).read_bytes()) == digest
    finally:
        store.close()


def test_tree_encoding_is_unchanged() -> None:
    """Tree hashes name commits: the encoding must stay byte for byte what it was."""
    tree = Tree([TreeEntry("b/x", "e" * 64, 7, 0o100755), TreeEntry("a", "f" * 64, 0)])
    text = tree.encode().decode()
    assert text == (
        '{"format":"assethub.tree.v2","entries":'
        f'[["a","{"f" * 64}",0,33188],["b/x","{"e" * 64}",7,33261]]}}'
    )
    assert Tree.decode(tree.encode()) == tree
    assert json.loads(text)["entries"][0] == ["a", "f" * 64, 0, 0o100644]


def test_the_collector_resumes_after_the_last_pause_and_only_if_it_ran() -> None:
    assert gc.isenabled()
    with paused_gc:
        assert not gc.isenabled()
        with paused_gc:
            assert not gc.isenabled()
        assert not gc.isenabled(), "an inner pause must not resume the collector"
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc:
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()
    with pytest.raises(ValueError), paused_gc:
        raise ValueError
    assert gc.isenabled()


def test_a_checkout_of_large_packed_objects_writes_them_in_byte_bounded_batches(
    hub: Hub, tmp_path: Path
) -> None:
    """Objects just under the 1 MiB pack line fill a batch by bytes long before by count."""
    files: dict[str, bytes | str] = {f"w{i:02d}.bin": os.urandom(1000 * 1024) for i in range(12)}
    files |= {f"s/{i:03d}.txt": f"small {i}\n" for i in range(300)}
    hub.create(DS)
    hub.add(DS, [str(write_files(tmp_path / "data", files))])
    version = str(hub.publish(DS))
    assert all(info.packed for info in hub.objects.iter_objects())
    done = hub.checkout(version, str(tmp_path / "out"), link="copy")
    assert done.report.files == len(files)
    assert read_files(tmp_path / "out" / "data") == {
        k: v.encode() if isinstance(v, str) else v for k, v in files.items()
    }

"""The core of pipeline runs: all outputs and the run cache land in one transaction, or none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write_files

from assethub_ext import Hub
from assethub_ext.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from assethub_ext.core.runs import RunDetails, RunOutput
from assethub_ext.storage.metadata import SCHEMA_VERSION, MetadataStore

D = "alice/dataset/cv/split"
M = "alice/model/cv/net"
SRC = "alice/dataset/cv/raw"


@pytest.fixture
def assets(hub: Hub, tmp_path: Path) -> Hub:
    for path in (D, M, SRC):
        hub.create(path)
    hub.add(SRC, [str(write_files(tmp_path / "raw", {"a.csv": "1,2\n"}) / "a.csv")])
    hub.publish(SRC)
    return hub


def details(hub: Hub, tmp_path: Path, **params: object) -> RunDetails:
    source = hub.show(SRC)["commit"].id
    return RunDetails(
        params=dict(params),
        metrics={"accuracy": 0.9},
        inputs=[f"{SRC}:{source}"],
        lineage={"caller": {"kind": "notebook", "path": "train.ipynb", "code_hash": "x"}},
        message="stage train",
        cwd=str(tmp_path),
    )


def outputs(tmp_path: Path, split: str = "rows\n") -> list[RunOutput]:
    write_files(tmp_path / "work", {"split/train.csv": split, "model/w.bin": b"\x00\x01"})
    return [
        RunOutput("split", D, str(tmp_path / "work" / "split")),
        RunOutput("model", f"{M}:main", str(tmp_path / "work" / "model")),
    ]


def test_a_run_commits_every_output_with_lineage_and_is_found_by_its_key(
    assets: Hub, tmp_path: Path
) -> None:
    assert assets.run_cache_get("k1") is None
    record = assets.commit_run(
        "k1", "train", "run-1", outputs(tmp_path), b'{"cells": []}', details(assets, tmp_path, lr=1)
    )
    assert assets.run_cache_get("k1") == record
    version = assets.show(D)["commit"]
    model = assets.show(M)["commit"]
    assert record.outputs["split"]["commit"] == version.id and version.meta["version"] == "v1"
    assert record.outputs["model"]["commit"] == model.id
    assert model.params == {"lr": 1} and model.metrics == {"accuracy": 0.9}
    assert model.lineage["run_id"] == "run-1" and model.lineage["run"]["stage"] == "train"
    assert [i["asset"] for i in model.lineage["inputs"]] == [SRC]
    assert model.lineage["caller"]["path"] == "train.ipynb"
    assert assets.objects.read_bytes(record.notebook) == b'{"cells": []}'
    assert model.lineage["run"]["executed_notebook"] == record.notebook
    assert assets.fsck().ok
    assets.gc(grace_seconds=0)
    assert assets.objects.read_bytes(record.notebook) == b'{"cells": []}'  # kept by gc


def test_an_unchanged_dataset_output_reuses_its_version(assets: Hub, tmp_path: Path) -> None:
    first = assets.commit_run("k1", "s", "r1", outputs(tmp_path), b"{}", details(assets, tmp_path))
    again = assets.commit_run("k2", "s", "r2", outputs(tmp_path), b"{}", details(assets, tmp_path))
    assert again.outputs["split"] == first.outputs["split"]
    assert [c.meta["version"] for c in assets.log(D)] == ["v1"]
    assert len(assets.log(M)) == 2
    newer = assets.commit_run(
        "k3", "s", "r3", outputs(tmp_path, "other\n"), b"{}", details(assets, tmp_path)
    )
    assert assets.show(D)["commit"].id == newer.outputs["split"]["commit"]
    assert [c.meta["version"] for c in assets.log(D)] == ["v2", "v1"]


def test_the_first_run_of_a_key_wins_and_the_second_commits_nothing(
    assets: Hub, tmp_path: Path
) -> None:
    first = assets.commit_run("k", "s", "r1", outputs(tmp_path), b"{}", details(assets, tmp_path))
    second = assets.commit_run("k", "s", "r2", outputs(tmp_path), b"{}", details(assets, tmp_path))
    assert second == first and len(assets.log(M)) == 1


@pytest.mark.parametrize(
    ("spoil", "error"),
    [
        ("tag", InvalidInput),  # the model output names a tag: refused
        ("dirty-draft", Conflict),  # the dataset's draft has unpublished changes
        ("missing-folder", NotFound),
    ],
)
def test_a_run_that_cannot_land_every_output_commits_none(
    assets: Hub, tmp_path: Path, spoil: str, error: type[Exception]
) -> None:
    assets.commit_run("k0", "s", "r0", outputs(tmp_path), b"{}", details(assets, tmp_path))
    before = {p: [c.id for c in assets.log(p)] for p in (D, M)}
    planned = outputs(tmp_path, "changed\n")
    if spoil == "tag":
        assets.tag(M, "release")
        planned[1] = RunOutput("model", f"{M}:release", planned[1].source)
    elif spoil == "dirty-draft":
        assets.add(D, [str(write_files(tmp_path / "x", {"extra.csv": "e"}) / "extra.csv")])
    else:
        planned[1] = RunOutput("model", f"{M}:main", str(tmp_path / "nowhere"))
    with pytest.raises(error):
        assets.commit_run("k1", "s", "r1", planned, b"{}", details(assets, tmp_path))
    assert {p: [c.id for c in assets.log(p)] for p in (D, M)} == before
    assert assets.run_cache_get("k1") is None


def test_the_run_cache_is_shared_but_respects_permissions(
    assets: Hub, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    assets.commit_run("k", "s", "r", outputs(tmp_path), b"{}", details(assets, tmp_path))
    bob = make_hub("bob")
    with pytest.raises(PermissionDenied):
        bob.run_cache_get("k")
    assets.share("alice/dataset/cv", "bob", "read")
    assets.share("alice/model/cv", "bob", "read")
    assert bob.run_cache_get("k") is not None
    assets.delete(M, force=True)
    assert assets.run_cache_get("k") is None  # its commits are gone: the stage runs again


def test_a_version_1_hub_gains_the_run_cache(hub_home: Path) -> None:
    from sqlalchemy import text

    hub_home.mkdir()
    store = MetadataStore(f"sqlite:///{hub_home}/v1.db")
    from assethub_ext.storage import metadata

    with store.engine.begin() as conn:  # not store.write(): a version 1 hub counts no writes
        metadata.MIGRATIONS[0](conn)
        conn.execute(text("INSERT INTO settings VALUES ('schema_version', '1')"))
    assert store.migrate() == SCHEMA_VERSION == 6
    with store.read() as conn:
        assert metadata.Catalog.run_cache_get(conn, "nothing") is None
        assert metadata.Catalog.list_groups(conn) == {}  # version 4: groups
        assert store.writes(conn) == 0  # version 5: the count of writes
        assert not store.holds_legacy_trees(conn)  # version 6: it has no draft, so no tree
    store.engine.dispose()

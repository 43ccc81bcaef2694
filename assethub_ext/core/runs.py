"""Runs of pipeline stages: committing all their outputs at once, and the run cache.

A stage's run commits every output (model branches move, datasets get a new version) and
records itself in the run cache in one database transaction, after all objects are
stored: a run killed at any point leaves either nothing or everything, and the next run of
the same key finds it. The cache lives in the hub's database, so on a shared hub one
person's run is the next person's skip. The core knows nothing of papermill: the pipeline
hands over folders, the executed notebook's bytes and what it wants recorded.

Two kinds of output besides a plain commit serve the pipeline's templates: a commit that
*continues* a model version (``start``: the version becomes a parent, and a branch that does
not exist yet is made by this commit), and an *evaluation* attached to a model version: a
commit of kind ``evaluation`` whose parent is that version and which no branch points to,
so the version itself stays what it was and ``show`` lists its evaluations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import lineage as lineage_capture
from .context import asset_path
from .datasets import DatasetOps
from .errors import Conflict, InvalidInput, NotFound
from .models import ModelOps
from .names import MAIN, AssetRef, parse_asset_path, parse_ref
from .scan import scan

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import AssetRow, CommitRow


EVALUATION = "evaluation"


@dataclass(frozen=True)
class RunOutput:
    """One output of a run: the folder it comes from and where it goes.

    ``to`` is a model branch or a dataset; for an evaluation, the model version
    (``asset:commit``) it is attached to. ``start``: the version a branch continues from.
    """

    name: str
    to: str
    source: str
    start: str | None = None
    kind: str = "commit"  # or EVALUATION


@dataclass(frozen=True)
class RunRecord:
    """What the run cache keeps for a stage key: the commits its run made."""

    key: str
    stage: str
    run_id: str
    outputs: dict[str, dict[str, str]]  # output name -> {"ref", "asset", "commit"}
    notebook: str  # digest of the executed notebook
    created_by: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class RunDetails:
    """What a run records in its output commits besides their files."""

    params: dict[str, Any]
    metrics: dict[str, Any]
    inputs: list[str]  # asset:commit refs
    lineage: dict[str, Any]
    message: str
    cwd: str  # where the code lives (its git commit goes into the lineage)


class RunOps(DatasetOps, ModelOps):
    def run_cache_get(self, key: str) -> RunRecord | None:
        """The earlier run of ``key``, if its commits are still there and readable to you."""
        with self.meta.read() as conn:
            data = self.catalog.run_cache_get(conn, key)
            if data is None:
                return None
            record = RunRecord.from_json(data)
            ids = sorted({o["commit"] for o in record.outputs.values()})
            if len(self.meta.get_commits(conn, ids)) != len(ids):
                return None  # an output asset was deleted since: run again
            for output in record.outputs.values():
                self._asset(conn, parse_asset_path(output["asset"]), "read")
        return record

    def commit_run(
        self,
        key: str,
        stage: str,
        run_id: str,
        outputs: list[RunOutput],
        notebook: bytes,
        details: RunDetails,
    ) -> RunRecord:
        """Commit every output and record the run under ``key``, all in one transaction.

        If another run of the same key landed first, its record is returned and nothing of
        this one is committed (its objects are left for ``gc``).
        """
        targets = [(o, parse_ref(o.to)) for o in outputs]
        with self.meta.read() as conn:
            for output, target in targets:
                self._output_asset(conn, output, target)
            input_entries = self._input_entries(conn, details.inputs)
        files = [scan(o.source, as_contents=True) for o in outputs]
        with self.objects.writer() as writer:
            trees = [self._ingest_folder(writer, found, set()) for found in files]
            digest = writer.put_bytes(notebook)
            run = {"id": run_id, "stage": stage, "key": key, "executed_notebook": digest}
            lineage = lineage_capture.capture(
                input_entries,
                details.params,
                writer.put_bytes,
                {**details.lineage, "run_id": run_id, "run": run},
                cwd=details.cwd,
            )
            writer.commit()
            with self.meta.write() as conn:
                found = self.catalog.run_cache_get(conn, key)
                if found is not None:
                    return RunRecord.from_json(found)
                made = {
                    output.name: self._land_output(
                        conn, output, target, tree, run, lineage, details
                    )
                    for (output, target), tree in zip(targets, trees, strict=True)
                }
                record = RunRecord(key, stage, run_id, made, digest, self.user)
                self.catalog.run_cache_put(conn, key, stage, asdict(record), self.user)
        return record

    def _output_asset(self, conn: Connection, output: RunOutput, target: AssetRef) -> AssetRow:
        """The asset an output lands in, refused (needing 'edit') before anything is stored."""
        asset = self._asset(conn, target.path, "edit")
        if output.kind == EVALUATION:
            self._evaluated(conn, asset, target)
        elif asset.type == "model":
            self._head_for(conn, asset, target.ref, output.start)
        return asset

    def _evaluated(self, conn: Connection, asset: AssetRow, target: AssetRef) -> str:
        """The model version an evaluation is attached to."""
        if asset.type != "model":
            raise InvalidInput(
                f"evaluations are attached to model versions; {target.path} is a dataset."
            )
        found = self._resolve(conn, target, "edit").commit_id
        assert found is not None  # only a dataset's draft resolves to no commit
        return found

    def _head_for(
        self, conn: Connection, asset: AssetRow, branch: str, start: str | None
    ) -> str | None:
        """The branch's head; continuing from ``start`` may also start the branch."""
        if start is not None and self._commit(conn, start).asset_id != asset.id:
            raise InvalidInput(
                f"commit {start[:12]} is not a version of {asset_path(asset)}, so a branch of "
                "it cannot continue from there."
            )
        try:
            return self._branch_head(conn, asset, branch)
        except NotFound:
            if start is None:
                raise
            return None  # a new branch, made by the commit that continues ``start``

    def _land_output(
        self,
        conn: Connection,
        output: RunOutput,
        target: AssetRef,
        tree: str,
        run: dict[str, Any],
        lineage: dict[str, Any],
        details: RunDetails,
    ) -> dict[str, str]:
        asset = self._output_asset(conn, output, target)
        if output.kind == EVALUATION:
            commit = self._make_commit(
                asset,
                kind=EVALUATION,
                tree=tree,
                parents=[self._evaluated(conn, asset, target)],
                **self._run_fields(run, lineage, details),
            )
            self.meta.insert_commit(conn, commit)
        elif asset.type == "dataset":
            commit = self._land_version(conn, asset, tree, run, lineage, details.message)
        else:
            head = self._head_for(conn, asset, target.ref, output.start)
            parents = [head] if head else []
            if output.start and output.start not in parents:
                parents.append(output.start)
            commit = self._make_commit(
                asset,
                kind="commit",
                tree=tree,
                parents=parents,
                **self._run_fields(run, lineage, details),
            )
            self.meta.insert_commit(conn, commit)
            self._advance_branch(conn, asset, target.ref, head, commit.id)
        return {"ref": str(target), "asset": str(asset_path(asset)), "commit": commit.id}

    @staticmethod
    def _run_fields(
        run: dict[str, Any], lineage: dict[str, Any], details: RunDetails
    ) -> dict[str, Any]:
        """What a run's model commit and evaluation record besides their tree and parents."""
        return {
            "message": details.message,
            "params": details.params,
            "metrics": details.metrics,
            "meta": {"run": run},
            "lineage": lineage,
        }

    def _land_version(
        self,
        conn: Connection,
        asset: AssetRow,
        tree: str,
        run: dict[str, Any],
        lineage: dict[str, Any],
        message: str,
    ) -> CommitRow:
        """A dataset output becomes its next version, unless ``main`` already holds that tree."""
        latest = self.catalog.ref(conn, asset.id, MAIN)
        if latest is not None:
            current = self._commit(conn, latest.commit_id)
            if self.same_files(conn, current.tree, tree):
                return current
        draft = self.catalog.require_draft(conn, asset.id)
        if draft.base_commit is not None:
            dirty = not self.same_files(
                conn, draft.tree, self._commit(conn, draft.base_commit).tree
            )
        else:
            dirty = bool(len(self.load_tree(draft.tree)))
        if dirty:
            raise Conflict(
                f"the draft of '{asset_path(asset)}' has unpublished changes; publish or derive "
                "before a pipeline publishes to it."
            )
        _, commit = self._new_version(
            conn, asset, draft, tree, message, meta={"run": run}, lineage=lineage
        )
        return commit

"""``assethub.yaml``: the stages of a pipeline, read and checked before anything runs.

Every refusal names the line it is on, and everything is checked up front (unknown keys,
duplicate keys, hostile or missing paths, inputs no stage makes, cycles), so a run never
stops halfway because of a typo in stage five. The YAML is read as nodes
(``yaml.compose``) rather than plain values because nodes keep their line numbers.

    stages:
      prepare:
        notebook: prepare.ipynb          # relative to the project, inside it
        parameters: {test_fraction: 0.2}
        inputs: {digits: demo/dataset/cv/digits:main}   # an asset ref ...
        outputs:
          split: {to: demo/dataset/cv/digits-split, from: split}
        code: [helpers.py]               # other files whose contents decide the result
      train:
        notebook: train.ipynb
        inputs: {data: prepare.split}    # ... or another stage's output
        outputs:
          model: {to: demo/model/cv/digits-mlp:main, from: model}
        metrics: metrics.json            # optional: a JSON object the notebook writes
"""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..core.errors import InvalidInput
from ..core.names import AssetRef, check_tree_path, parse_ref, quote

PIPELINE_FILE = "assethub.yaml"
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
STAGE_KEYS = ("notebook", "parameters", "inputs", "outputs", "code", "metrics", "description")
OUTPUT_KEYS = ("to", "from")


@dataclass(frozen=True)
class StageOutputRef:
    """An input that is another stage's output: ``<stage>.<output>``."""

    stage: str
    output: str

    def __str__(self) -> str:
        return f"{self.stage}.{self.output}"


@dataclass(frozen=True)
class OutputSpec:
    """Where an output goes (``to``: a model branch or a dataset) and the run folder it comes from."""

    name: str
    to: AssetRef
    source: str  # relative to the stage's work folder


@dataclass(frozen=True)
class StageSpec:
    name: str
    line: int
    notebook: str  # relative to the project root
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, AssetRef | StageOutputRef] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    code: tuple[str, ...] = ()
    metrics: str | None = None
    description: str = ""

    @property
    def upstream(self) -> set[str]:
        return {i.stage for i in self.inputs.values() if isinstance(i, StageOutputRef)}

    def describe(self) -> dict[str, Any]:
        """The stage as plain data (``assethub dag --json``)."""
        return {
            "name": self.name,
            "notebook": self.notebook,
            "upstream": sorted(self.upstream),
            "parameters": self.parameters,
            "inputs": {name: str(source) for name, source in self.inputs.items()},
            "outputs": {
                name: {"to": str(o.to), "from": o.source} for name, o in self.outputs.items()
            },
            "code": list(self.code),
            "line": self.line,
        }


@dataclass(frozen=True)
class Pipeline:
    root: str  # the project folder, absolute and resolved
    stages: dict[str, StageSpec]

    def graph(self) -> dict[str, set[str]]:
        """Each stage and the stages it waits on."""
        return {name: stage.upstream for name, stage in self.stages.items()}

    def order(self) -> list[str]:
        return list(TopologicalSorter(self.graph()).static_order())

    def needed_for(self, targets: list[str]) -> list[str]:
        """``targets`` and everything upstream of them, in dependency order (all if none)."""
        if not targets:
            return self.order()
        unknown = [t for t in targets if t not in self.stages]
        if unknown:
            raise InvalidInput(
                f"no stage named {quote(unknown[0])} in {PIPELINE_FILE} "
                f"(stages: {', '.join(self.stages)})."
            )
        wanted: set[str] = set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(self.stages[name].upstream)
        return [name for name in self.order() if name in wanted]

    def path(self, relative: str) -> str:
        return os.path.join(self.root, relative)


class _Reader:
    """Turns nodes into checked values; every refusal carries its node's line."""

    def __init__(self, source: str, root: str) -> None:
        self.source = source
        self.root = root

    def fail(self, node: Node, message: str) -> InvalidInput:
        return InvalidInput(f"{self.source}, line {node.start_mark.line + 1}: {message}")

    def mapping(
        self, node: Node, what: str, allowed: tuple[str, ...] | None = None
    ) -> dict[str, tuple[Node, Node]]:
        """A mapping with string keys, no duplicates, and (if given) only ``allowed`` keys."""
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping of names to values.")
        items: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                raise self.fail(key_node, f"the keys of {what} must be plain names.")
            key = key_node.value
            if key in items:
                raise self.fail(key_node, f"{quote(key)} appears twice in {what}.")
            if allowed is not None and key not in allowed:
                raise self.fail(
                    key_node,
                    f"unknown key {quote(key)} in {what} (allowed: {', '.join(allowed)}).",
                )
            items[key] = (key_node, value_node)
        return items

    def string(self, node: Node, what: str) -> str:
        if (
            not isinstance(node, ScalarNode)
            or node.tag != "tag:yaml.org,2002:str"
            or not node.value
        ):
            raise self.fail(node, f"{what} must be a non-empty string.")
        return str(node.value)

    def identifier(self, node: Node, what: str) -> str:
        """Input, output and parameter names become Python variables in the notebook."""
        name = str(node.value)
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("PAPERMILL"):
            raise self.fail(node, f"{what} {quote(name)} must be a Python variable name.")
        return name

    def project_file(self, node: Node, what: str, suffix: str = "") -> str:
        """A file of the project: relative, no ``..``, not through a link that leads out."""
        text = self.string(node, what)
        if os.path.isabs(text) or "\\" in text:
            raise self.fail(node, f"{what} {quote(text)} must be a path relative to the project.")
        try:
            rel = check_tree_path(text)
        except InvalidInput:
            raise self.fail(
                node, f"{what} {quote(text)} must stay inside the project (no '..', no '.')."
            ) from None
        if suffix and not rel.endswith(suffix):
            raise self.fail(node, f"{what} {quote(text)} must be a {suffix} file.")
        real = os.path.realpath(os.path.join(self.root, rel))
        if not real.startswith(self.root + os.sep):
            raise self.fail(node, f"{what} {quote(text)} leads out of the project through a link.")
        if not os.path.isfile(real):
            raise self.fail(node, f"{what} {quote(text)} does not exist in the project.")
        return rel

    def value(self, node: Node) -> Any:
        return SafeConstructor().construct_document(node)


def load_pipeline(root: str = ".") -> Pipeline:
    """Read and check ``assethub.yaml`` in the project folder ``root``."""
    root = os.path.realpath(root)
    path = os.path.join(root, PIPELINE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InvalidInput(
            f"no {PIPELINE_FILE} in {quote(root)}; run this in a pipeline project's folder."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"cannot read {PIPELINE_FILE}: {err}.") from None
    return parse_pipeline(text, root)


def compose(text: str, name: str) -> Node | None:
    """The YAML document as nodes (which keep their lines); bad YAML is one sentence."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}" if mark else ""
        raise InvalidInput(f"{name}{where}: not valid YAML ({err.problem}).") from None
    except yaml.YAMLError as err:
        raise InvalidInput(f"{name}: not valid YAML ({err}).") from None


def parse_pipeline(text: str, root: str) -> Pipeline:
    reader = _Reader(PIPELINE_FILE, os.path.realpath(root))
    document = compose(text, PIPELINE_FILE)
    if document is None:
        raise InvalidInput(f"{PIPELINE_FILE} is empty; declare 'stages:'.")
    top = reader.mapping(document, "the pipeline file", ("stages",))
    if "stages" not in top:
        raise reader.fail(document, "the pipeline file needs a 'stages:' mapping.")
    stage_nodes = reader.mapping(top["stages"][1], "'stages'")
    if not stage_nodes:
        raise reader.fail(top["stages"][1], "'stages' declares no stage.")
    stages = {name: _stage(reader, name, key, value) for name, (key, value) in stage_nodes.items()}
    pipeline = Pipeline(reader.root, stages)
    _check_links(reader, pipeline, stage_nodes)
    return pipeline


def _stage(reader: _Reader, name: str, key: Node, node: Node) -> StageSpec:
    if not STAGE_NAME.match(name):
        raise reader.fail(key, f"stage name {quote(name)} must match [A-Za-z0-9][A-Za-z0-9_-]*.")
    what = f"stage {quote(name)}"
    items = reader.mapping(node, what, STAGE_KEYS)
    if "notebook" not in items:
        raise reader.fail(node, f"{what} needs a 'notebook'.")
    if "outputs" not in items:
        raise reader.fail(node, f"{what} needs 'outputs' (what it commits).")
    parameters = _parameters(reader, items["parameters"][1], what) if "parameters" in items else {}
    inputs = _inputs(reader, items["inputs"][1], what) if "inputs" in items else {}
    outputs = _outputs(reader, items["outputs"][1], what)
    clash = set(parameters) & set(inputs)
    if clash:
        raise reader.fail(
            node, f"{what} names {quote(min(clash))} both as a parameter and an input."
        )
    return StageSpec(
        name=name,
        line=key.start_mark.line + 1,
        notebook=reader.project_file(items["notebook"][1], "notebook", ".ipynb"),
        parameters=parameters,
        inputs=inputs,
        outputs=outputs,
        code=_code(reader, items["code"][1]) if "code" in items else (),
        metrics=_run_path(reader, items["metrics"][1], "metrics") if "metrics" in items else None,
        description=reader.string(items["description"][1], "description")
        if "description" in items
        else "",
    )


def _parameters(reader: _Reader, node: Node, what: str) -> dict[str, Any]:
    items = reader.mapping(node, f"the parameters of {what}")
    return {
        reader.identifier(key, "parameter"): reader.value(value) for key, value in items.values()
    }


def _inputs(reader: _Reader, node: Node, what: str) -> dict[str, AssetRef | StageOutputRef]:
    inputs: dict[str, AssetRef | StageOutputRef] = {}
    for key, value in reader.mapping(node, f"the inputs of {what}").values():
        name = reader.identifier(key, "input")
        text = reader.string(value, f"input {quote(name)}")
        if "/" not in text:
            stage, dot, output = text.partition(".")
            if not dot or not stage or not output:
                raise reader.fail(
                    value,
                    f"input {quote(name)} must be an asset ref (owner/type/folder/name:ref) "
                    "or another stage's output (stage.output).",
                )
            inputs[name] = StageOutputRef(stage, output)
            continue
        try:
            inputs[name] = parse_ref(text)
        except InvalidInput as err:
            raise reader.fail(value, str(err)) from None
    return inputs


def _outputs(reader: _Reader, node: Node, what: str) -> dict[str, OutputSpec]:
    outputs: dict[str, OutputSpec] = {}
    items = reader.mapping(node, f"the outputs of {what}")
    if not items:
        raise reader.fail(node, f"{what} declares no output.")
    for key, value in items.values():
        name = reader.identifier(key, "output")
        fields = reader.mapping(value, f"output {quote(name)}", OUTPUT_KEYS)
        missing = [k for k in OUTPUT_KEYS if k not in fields]
        if missing:
            raise reader.fail(value, f"output {quote(name)} needs '{missing[0]}'.")
        to_node = fields["to"][1]
        try:
            to = parse_ref(reader.string(to_node, f"output {quote(name)}'s 'to'"))
        except InvalidInput as err:
            raise reader.fail(to_node, str(err)) from None
        if to.path.type == "dataset" and to.ref != "main":
            raise reader.fail(
                to_node, f"output {quote(name)} goes to a dataset: name the dataset without ':ref'."
            )
        outputs[name] = OutputSpec(name, to, _run_path(reader, fields["from"][1], "'from'"))
    return outputs


def _run_path(reader: _Reader, node: Node, what: str) -> str:
    """A path inside the stage's work folder: relative, no ``..``."""
    text = reader.string(node, what)
    try:
        return check_tree_path(text)
    except InvalidInput:
        raise reader.fail(
            node, f"{what} {quote(text)} must be a relative path inside the run's folder."
        ) from None


def _code(reader: _Reader, node: Node) -> tuple[str, ...]:
    if not isinstance(node, SequenceNode):
        raise reader.fail(node, "'code' must be a list of files.")
    return tuple(reader.project_file(item, "code file") for item in node.value)


def _check_links(
    reader: _Reader, pipeline: Pipeline, nodes: Mapping[str, tuple[Node, Node]]
) -> None:
    """Every stage input is made by a stage, no ref is written twice, and there is no cycle."""
    writers: dict[str, str] = {}
    for stage in pipeline.stages.values():
        for output in stage.outputs.values():
            asset = str(output.to)
            if asset in writers:
                raise reader.fail(
                    nodes[stage.name][0],
                    f"stages {quote(writers[asset])} and {quote(stage.name)} both write {asset}.",
                )
            writers[asset] = stage.name
    for stage in pipeline.stages.values():
        for name, source in stage.inputs.items():
            line_node = _input_node(reader, nodes[stage.name][1], name)
            if isinstance(source, StageOutputRef):
                made = pipeline.stages.get(source.stage)
                if made is None or source.output not in made.outputs:
                    raise reader.fail(
                        line_node,
                        f"input {quote(name)} of stage {quote(stage.name)} is {source}, "
                        "which no stage makes.",
                    )
            elif str(source) in writers:
                maker = writers[str(source)]
                raise reader.fail(
                    line_node,
                    f"input {quote(name)} of stage {quote(stage.name)} reads {source}, which "
                    f"stage {quote(maker)} writes: name it as {maker}.<output> instead.",
                )
    try:
        pipeline.order()
    except CycleError as err:
        cycle = err.args[1]
        raise reader.fail(
            nodes[cycle[0]][0], f"the stages form a cycle: {' -> '.join(cycle)}."
        ) from None


def _input_node(reader: _Reader, stage_node: Node, name: str) -> Node:
    """The node of one input's value, for the line of a refusal about it."""
    inputs = reader.mapping(stage_node, "stage")["inputs"][1]
    return reader.mapping(inputs, "inputs")[name][1]

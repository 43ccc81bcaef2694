"""Reading a ref: ``checkout``, ``log``, ``show``, ``diff`` and ``lineage``."""

from __future__ import annotations

import click

from ..views import LOG_HEADER, commit_dict, human_size, log_row, when
from ._common import (
    emit_json,
    handles_errors,
    json_option,
    open_hub,
    progress,
    table,
)
from ._plain import print_changes


@click.command()
@click.argument("ref")
@click.argument("dest", type=click.Path())
@click.option(
    "--link",
    type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
    default="auto",
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite files modified since an earlier checkout.")
@handles_errors
def checkout(ref: str, dest: str, link: str, force: bool) -> None:
    """Materialise REF's files into DEST (an empty folder, or an earlier checkout to update).

    Files of 1 MiB and more, and files added with ``add --link``, are reflinked where the
    file system can, else hard-linked (read-only), else copied; other small files are
    stored in packs and always copied.
    """
    with open_hub() as hub:
        done = hub.checkout(ref, dest, link=link, force=force, progress=progress)  # type: ignore[arg-type]
    methods = (
        ", ".join(f"{n} {m}" for m, n in sorted(done.report.methods.items())) or "nothing to write"
    )
    click.echo(
        f"{done.ref} ({done.commit_id[:12]}) -> {dest}: {done.report.files} files ({methods})"
    )
    if link in ("hardlink", "reflink") and done.report.methods.get("copy"):
        click.echo(
            "note: files under 1 MiB are packed (unless added with 'add --link') and are copied."
        )


@click.command()
@click.argument("ref")
@click.option("-n", "limit", type=int, default=None, help="Show at most N commits.")
@json_option
@handles_errors
def log(ref: str, limit: int | None, as_json: bool) -> None:
    """Commits reachable from REF, newest first, with params and metrics."""
    with open_hub() as hub:
        commits = hub.log(ref, limit)
    if as_json:
        emit_json([commit_dict(c) for c in commits])
        return
    table([log_row(c, width=40) for c in commits], LOG_HEADER)


@click.command()
@click.argument("ref")
@click.option("--files", is_flag=True, help="List every file.")
@json_option
@handles_errors
def show(ref: str, files: bool, as_json: bool) -> None:
    """A commit: its refs, files, params, metrics and lineage."""
    with open_hub() as hub:
        info = hub.show(ref)
    commit, tree, evaluations = info.pop("commit"), info.pop("tree"), info.pop("evaluations")
    if as_json:
        info["commit"] = commit_dict(commit)
        info["evaluations"] = [commit_dict(e) for e in evaluations]
        if files:
            info["tree"] = list(tree.values())
        emit_json(info)
        return
    click.echo(f"{info['asset']}:{info['ref']}  commit {commit.id}")
    click.echo(
        f"refs: {', '.join(info['refs']) or '-'}   kind: {commit.kind}   parents: {', '.join(p[:12] for p in commit.parents) or '-'}"
    )
    click.echo(
        f"author: {commit.author}   time: {when(commit.created_at)} UTC   files: {info['files']} ({human_size(info['size'])})"
    )
    if commit.message:
        click.echo(f"message: {commit.message}")
    for label, values in (
        ("params", commit.params),
        ("metrics", commit.metrics),
        ("meta", commit.meta),
    ):
        if values:
            click.echo(f"{label}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for item in commit.lineage.get("inputs", []):
        click.echo(f"input: {item['ref']} ({item['commit'][:12]})")
    code = commit.lineage.get("code")
    if code:
        click.echo(
            f"code: {code.get('remote') or code.get('root')} @ {code['commit'][:12]}{' (dirty, patch stored)' if code.get('patch') else ''}"
        )
    for evaluation in evaluations:
        scores = ", ".join(f"{k}={v}" for k, v in evaluation.metrics.items())
        click.echo(f"evaluation: {evaluation.id[:12]} {when(evaluation.created_at)}  {scores}")
    if files:
        for entry in tree.values():
            click.echo(f"  {entry.path}  {human_size(entry.size)}  {entry.digest[:12]}")


@click.command()
@click.argument("a")
@click.argument("b")
@json_option
@handles_errors
def diff(a: str, b: str, as_json: bool) -> None:
    """Files added/removed/changed from A to B, and params and metrics side by side."""
    with open_hub() as hub:
        result = hub.diff(a, b)
    if as_json:
        emit_json(result)
        return
    print_changes(result.changes, False)
    for label, values in (("param", result.params), ("metric", result.metrics)):
        for key, (left, right) in values.items():
            mark = " " if left == right else "*"
            click.echo(f"{mark} {label} {key}: {left} -> {right}")


@click.command()
@click.argument("ref")
@click.option(
    "--up/--down",
    default=True,
    help="Walk to inputs (up, default) or to what was made from REF (down).",
)
@click.option("--depth", type=int, default=10, show_default=True)
@json_option
@handles_errors
def lineage(ref: str, up: bool, depth: int, as_json: bool) -> None:
    """What REF was made from (--up), or what was made from it (--down)."""
    with open_hub() as hub:
        graph = hub.lineage(ref, up=up, down=not up, depth=depth)
    if as_json:
        emit_json({"root": graph.root, "nodes": list(graph.nodes.values()), "edges": graph.edges})
        return

    def label(commit_id: str) -> str:
        node = graph.nodes.get(commit_id, {})
        names = ",".join(node.get("refs", []))
        asset = node.get("asset", "(not readable)" if node.get("restricted") else "?")
        return f"{asset}:{names or commit_id[:12]}"

    click.echo(label(graph.root))
    arrow = "<-" if up else "->"
    for edge in graph.edges:
        other, this = (edge["from"], edge["to"]) if up else (edge["to"], edge["from"])
        click.echo(f"  {label(this)} {arrow}[{edge['kind']}] {label(other)}")

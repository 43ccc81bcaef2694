"""The ``%asset`` magic: its subcommands, parsed by click, each one call on the ``Hub``.

Errors end the cell with one line (``error: …``): the exception carries its own rendering
(IPython's ``_render_traceback_``), so the cell fails, a papermill run stops, and no
traceback of ours is shown.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..commit_options import commit_values
from ..core.errors import AssetHubError
from ..core.names import parse_ref
from ..core.pins import PinFile
from ..core.progress import ProgressBar, no_progress
from .display import Note, PinnedAsset, diff_view, log_view, pins_view, show_view, sweep_view
from .session import NotebookSession

if TYPE_CHECKING:
    from ..core.hub import Hub

BIG_TRANSFER = 32 * 1024 * 1024  # smaller pins finish before a bar would be worth drawing


class AssetMagicError(Exception):
    """A refusal shown as one line in the cell's output instead of a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"error: {self}"]


def widget_progress(description: str, total: int, unit: str) -> ProgressBar:
    """An ipywidgets bar in a notebook (a text bar in a terminal) for big transfers only."""
    if total < BIG_TRANSFER:
        return no_progress(description, total, unit)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False)


@dataclass
class MagicContext:
    """What every subcommand needs: the hub, the notebook session, and a way to show things."""

    hub_factory: Callable[[], Hub]
    session: NotebookSession
    show: Callable[..., None] = field(default=display)

    @property
    def hub(self) -> Hub:
        return self.hub_factory()

    def pin(self, ref: str, to: str | None = None, update: bool = False) -> PinnedAsset:
        """Pin under the notebook's lock file and announce it (the panel listens for the MIME)."""
        lock = self.session.lock_path
        with PinFile.editing(
            lock, self.session.notebook and os.path.basename(self.session.notebook)
        ) as pins:
            result = self.hub.pin(ref, pins, to=to, update=update, progress=widget_progress)
        pinned = PinnedAsset(result)
        self.show(pinned.mime_bundle(lock), raw=True)
        return pinned


pass_context = click.make_pass_decorator(MagicContext)


@click.group(
    name="%asset",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_help_option=True,
)
def commands() -> None:
    """Pin, commit and inspect Asset Hub versions from a notebook."""


@commands.command()
@click.argument("ref")
@click.option(
    "--to", "to", default=None, help="Folder beside the notebook (default: the asset's name)."
)
@click.option("--update", is_flag=True, help="Resolve REF again and move the pin.")
@pass_context
def pin(ctx: MagicContext, ref: str, to: str | None, update: bool) -> PinnedAsset:
    """Resolve REF once, keep its commit with the notebook, and check its files out."""
    return ctx.pin(ref, to, update)


@commands.command()
@pass_context
def pins(ctx: MagicContext) -> Any:
    """This notebook's pins, and whether something newer exists for each."""
    lock = ctx.session.lock_path
    return pins_view(lock, ctx.hub.pin_status(PinFile.load(lock).pins.values()))


@commands.command()
@click.argument("ref")
@pass_context
def unpin(ctx: MagicContext, ref: str) -> Note:
    """Forget the pin of REF (its files stay where they are)."""
    with PinFile.editing(ctx.session.lock_path) as lock:
        gone = ctx.hub.unpin(ref, lock)
    return Note(f"unpinned {gone.ref} (was {gone.commit[:12]}); its files stay in {gone.dir}")


@commands.command()
@click.argument("source", type=click.Path())
@click.option(
    "--to", "ref", required=True, help="Model branch (owner/model/folder/name:branch) or dataset."
)
@click.option("--input", "inputs", multiple=True, help="Another input ref besides the pins.")
@click.option("--publish", is_flag=True, help="For a dataset: publish the draft afterwards.")
@commit_values
@pass_context
def commit(
    ctx: MagicContext,
    source: str,
    ref: str,
    inputs: tuple[str, ...],
    publish: bool,
    values: dict[str, Any],
) -> Note:
    """Commit SOURCE to REF with this notebook's pins, code and parameters as lineage."""
    if parse_ref(ref).path.type == "dataset":
        return _change_dataset(ctx, source, ref, values, publish)
    pinned = PinFile.load(ctx.session.lock_path).pins.values()
    made = ctx.hub.commit(
        ref,
        source,
        inputs=[f"{p.asset}:{p.commit}" for p in pinned] + list(inputs),
        lineage_extra=_notebook_lineage(ctx.session, pinned),
        progress=widget_progress,
        **values,
    )
    return Note(f"committed {made.id[:12]} to {parse_ref(ref)}")


def _notebook_lineage(session: NotebookSession, pinned: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "caller": session.caller(),
        "pins": [{"ref": p.ref, "commit": p.commit} for p in pinned],
    }
    papermill = session.papermill()
    if papermill is not None:
        extra["papermill"] = papermill
    return extra


def _change_dataset(
    ctx: MagicContext, source: str, ref: str, values: dict[str, Any], publish: bool
) -> Note:
    """A dataset has no commits of its own: the change goes to its draft (and is published)."""
    if values["params"] or values["metrics"] or values["metadata"]:
        raise click.UsageError(
            "--param, --metric and --meta belong to model commits, not datasets."
        )
    path = str(parse_ref(ref).path)
    change = ctx.hub.add(path, [source], progress=widget_progress)
    if not publish:
        return Note(
            f"{len(change.changes)} change(s) in the draft of {path}; publish to freeze them"
        )
    done = ctx.hub.publish(path, values["message"])
    return Note(f"published {path}:{done.version}")


@commands.command()
@click.argument("ref")
@click.option("-n", "limit", type=int, default=None, help="Show at most N commits.")
@pass_context
def log(ctx: MagicContext, ref: str, limit: int | None) -> Any:
    """Commits reachable from REF, newest first, with params and metrics."""
    return log_view(ref, ctx.hub.log(ref, limit))


@commands.command()
@click.argument("ref")
@pass_context
def show(ctx: MagicContext, ref: str) -> Any:
    """A commit: refs, files, params, metrics and lineage."""
    return show_view(ctx.hub.show(ref))


@commands.command()
@click.argument("a")
@click.argument("b")
@pass_context
def diff(ctx: MagicContext, a: str, b: str) -> Any:
    """Files, params and metrics that differ between A and B."""
    return diff_view(ctx.hub.diff(a, b))


@commands.command()
@click.argument("path", default="")
@pass_context
def browse(ctx: MagicContext, path: str) -> Any:
    """Browse folders, assets and versions, and pin with a click."""
    from .browse import HubBrowser

    return HubBrowser(ctx, path)


@commands.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=None, help="Worker processes (default: the file's).")
@click.option("--trials", type=int, default=None, help="Trial budget (default: the file's).")
@pass_context
def sweep(ctx: MagicContext, file: str, workers: int | None, trials: int | None) -> Any:
    """Run or resume the sweep in FILE (worker processes; progress as trials finish)."""
    from ..sweeps.engine import run_sweep

    result = run_sweep(
        file, workers=workers, trials=trials, hub=ctx.hub, progress=trial_progress, echo=print
    )
    return sweep_view(result)


def trial_progress(description: str, total: int, unit: str) -> ProgressBar:
    """A bar counting trials (a widget in a notebook, text in a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit=unit)


def run(context: MagicContext, args: list[str]) -> Any:
    """Run one ``%asset`` command line; refusals become ``AssetMagicError``."""
    try:
        return commands.main(args, prog_name="%asset", standalone_mode=False, obj=context)
    except click.exceptions.Exit:
        return None  # --help was shown
    except click.ClickException as err:
        raise AssetMagicError(err.format_message()) from None
    except AssetHubError as err:
        raise AssetMagicError(str(err)) from None


@magics_class
class AssetMagics(Magics):
    """``%asset COMMAND …`` and, one command per line, ``%%asset COMMAND``."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._hub: Hub | None = None

    def _get_hub(self) -> Hub:
        if self._hub is None:
            from ..core.hub import Hub

            self._hub = Hub()
        return self._hub

    def _context(self) -> MagicContext:
        user_ns = self.shell.user_ns if self.shell is not None else {}
        return MagicContext(self._get_hub, NotebookSession(user_ns, os.getcwd()))

    @line_cell_magic
    def asset(self, line: str, cell: str | None = None) -> Any:
        """Pin, commit and inspect Asset Hub versions; ``%asset --help`` lists the commands."""
        try:
            head = shlex.split(line)
            lines = [shlex.split(text) for text in (cell or "").splitlines() if text.strip()]
        except ValueError as err:
            raise AssetMagicError(f"cannot parse the command line: {err}.") from None
        if cell is None:
            return run(self._context(), head or ["--help"])
        results = [run(self._context(), head + args) for args in lines]
        return results[-1] if len(results) == 1 else results

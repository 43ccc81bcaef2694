"""What every ``assethub`` command shares: the hub it opens, errors as one line, output.

Exit codes: 0 success; 1 the hub refused or failed (not found, conflict, "branch moved",
permission denied, integrity problems found by fsck); 2 the command line or an input was
malformed. Errors are one line on stderr, never a traceback. Listings take ``--json``.
Long work shows a tqdm bar on a terminal and nothing when piped.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..core.errors import AssetHubError
from ..views import json_text, text_table
from ._plain import report_error, report_interrupt

if TYPE_CHECKING:
    from ..core.hub import Hub
    from ..core.progress import ProgressBar

F = TypeVar("F", bound=Callable[..., Any])


def progress(description: str, total: int, unit: str) -> ProgressBar:
    if not sys.stderr.isatty():
        from ..core.progress import no_progress

        return no_progress(description, total, unit)
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: a one-thread process may fork (core/forked.py)
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False)


@contextmanager
def open_hub() -> Iterator[Hub]:
    """The hub named by the environment, closed however the command ends."""
    from ..core.hub import Hub

    hub = Hub()
    try:
        yield hub
    finally:
        hub.close()


def handles_errors(func: F) -> F:
    """Turn an ``AssetHubError`` into one line on stderr and its exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AssetHubError as err:
            sys.exit(report_error(err))
        except KeyboardInterrupt:
            sys.exit(report_interrupt())

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(json_text(value))


def table(rows: list[list[str]], header: list[str]) -> None:
    if rows:
        click.echo(text_table(header, rows))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")

"""The options that describe a commit, shared by ``assethub commit`` and ``%asset commit``.

``@commit_values`` adds ``-m``, ``--param``, ``--metric`` and ``--meta`` to a click command
and hands the command one ``values`` dict, parsed, ready for ``Hub.commit(**values)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

OPTIONS = (
    click.option("-m", "--message", default="", help="What this commit is."),
    click.option("--param", "params", multiple=True, help="KEY=VALUE, repeatable."),
    click.option("--metric", "metrics", multiple=True, help="KEY=VALUE, repeatable."),
    click.option("--meta", "metas", multiple=True, help="KEY=VALUE of free metadata, repeatable."),
)


def commit_values(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        message: str,
        params: tuple[str, ...],
        metrics: tuple[str, ...],
        metas: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        from .core.models import parse_pairs  # lazily: the CLI starts without the core

        values = {
            "message": message,
            "params": parse_pairs(list(params), "--param"),
            "metrics": parse_pairs(list(metrics), "--metric"),
            "metadata": parse_pairs(list(metas), "--meta"),
        }
        return func(*args, values=values, **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper

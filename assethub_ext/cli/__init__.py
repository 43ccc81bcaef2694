"""The ``assethub`` command.

Each command lives in the module of its concern (datasets, models, history, ...) and is
imported only when it is run: ``assethub status`` must not pay for the imports of
``sweep`` or ``show`` (nor, in its plain form, for click's: see ``_plain``).
``assethub --help`` lists them all and so imports them all.
"""

from __future__ import annotations

import gc
import sys

COMMANDS = {
    "init": "maintenance:init",
    "fsck": "maintenance:fsck",
    "gc": "maintenance:gc",
    "create": "assets:create",
    "ls": "assets:ls_command",
    "delete": "assets:delete",
    "share": "assets:share",
    "add": "datasets:add",
    "status": "datasets:status",
    "rm": "datasets:rm",
    "publish": "datasets:publish",
    "derive": "datasets:derive",
    "restore": "datasets:restore",
    "commit": "models:commit",
    "branch": "models:branch",
    "tag": "models:tag",
    "merge": "models:merge",
    "checkout": "history:checkout",
    "log": "history:log",
    "show": "history:show",
    "diff": "history:diff",
    "lineage": "history:lineage",
    "run": "pipeline:run",
    "dag": "pipeline:dag",
    "sweep": "sweeps:sweep",
    "remote": "team:remote",
    "push": "team:push",
    "pull": "team:pull",
    "clone": "team:clone",
    "group": "team:group",
}
"""Command name -> "module:attribute" in this package."""


def main() -> None:
    """The ``assethub`` entry point: click's own usage errors become one line too."""
    try:
        _run()
    finally:
        # The process ends here. Frozen objects are left out of the collector's last full
        # pass at exit, which cost about 50 ms after a 20,000-file add or checkout; files,
        # connections and atexit handlers are closed and run as usual.
        gc.freeze()


def _run() -> None:
    from ._plain import one_line, report_interrupt, run_plain

    code = run_plain(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    import click

    from ._group import cli

    try:
        code = cli.main(standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"error: {one_line(exc.format_message())} (see 'assethub --help')", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(report_interrupt())
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

"""The process side of a papermill worker (``python -m assethub_ext.pipeline.papermill_worker``).

Importing papermill takes seconds (a second of it: a grammar that jsonschema builds for
nbformat), more than ``assethub run`` needs to open the hub, compute keys and check inputs
out. So a run starts its workers first: each imports papermill here, then waits for one
JSON line on stdin — papermill's arguments, the kernel's environment and the log file — and
only then reads the notebook and starts the kernel, by which time the inputs are in place.
End of input instead means the worker was not needed: it exits quietly.

Only the standard library is imported besides papermill: this runs in its own interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _redirect(log: str) -> None:
    """Papermill's and the kernel's output go to the stage's log; stdin is closed to them."""
    sys.stdout.flush()
    sys.stderr.flush()
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.dup2(null, 0)
    os.close(out)
    os.close(null)


def main() -> None:
    failure = ""
    try:
        try:
            from papermill.cli import papermill
        except Exception:  # told in the stage's log, which is known only once the run comes
            failure = traceback.format_exc()
        line = sys.stdin.readline()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: leave without a word
        sys.exit(130)
    if not line:
        return
    order = json.loads(line)
    _redirect(order["log"])
    if failure:
        sys.exit(failure)
    os.environ.clear()
    os.environ.update(order["env"])
    papermill.main(args=order["args"], prog_name="papermill")


if __name__ == "__main__":
    main()

"""Run one command and write its wall time and peak RSS as JSON: ``launcher.py OUT -- ARGV``.

Why a launcher between the benchmark and the tool: Linux carries the parent's peak RSS into
a child across ``exec`` (``exec_mmap`` records the old address space's high-water mark, and
``fork``/``vfork`` hand the child the parent's), so ``ru_maxrss`` of a command started by the
benchmark process could never read below the benchmark's own peak (tens of MiB after
generating the data). This launcher is a fresh, small interpreter (``python -I -S``,
standard library only); the command it starts inherits only its few MiB, well below any
Python CLI's footprint, so the reported peak is the command's own.

The timed window is ``Popen`` to ``wait4``, the command's whole life; the launcher's own
start-up is outside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    out, separator, *argv = sys.argv[1:]
    if separator != "--" or not argv:
        print("usage: launcher.py OUT -- ARGV...", file=sys.stderr)
        return 2
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "seconds": seconds,
                "peak_rss": usage.ru_maxrss * 1024,
                "returncode": proc.returncode,
            },
            handle,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

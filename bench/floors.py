"""The machine's floors: the least work each benchmark step needs, whatever the tool.

A ratio against DVC says how far ahead we are; a floor says how much further anyone could
go on this machine. Each floor is timed as one subprocess, like the tools' steps, and
interleaved with them (see ``pipelines.run_floors``):

``status``        start Python, walk the folder and ``lstat`` every file: the least a
                  Python tool answering "what changed?" does
``first_add``     start Python, walk, read and BLAKE3-hash every file, append the bytes to
                  one pack file: a content-addressed store without metadata, locking or
                  crash safety
``checkout_copy`` ``cp -r`` of the folder (C, no hashing): creating the files
``checkout_link`` ``cp -al``: creating the links
``big_add``       ``cp`` of the large file: writing its bytes once
``big_add_link``  ``ln``

    python bench/floors.py status|pack FOLDER [PACK]
"""

from __future__ import annotations

import os
import sys

import blake3


def _files(folder: str) -> list[str]:
    found = []
    for root, _dirs, names in os.walk(folder):
        found += [os.path.join(root, name) for name in names]
    return found


def status(folder: str) -> int:
    return sum(os.lstat(path).st_size for path in _files(folder))


def pack(folder: str, target: str) -> int:
    written = 0
    with open(target, "xb") as out:
        for path in _files(folder):
            with open(path, "rb") as handle:
                data = handle.read()
            blake3.blake3(data).digest()
            written += out.write(data)
    return written


def main(argv: list[str]) -> int:
    if argv[:1] == ["status"] and len(argv) == 2:
        status(argv[1])
    elif argv[:1] == ["pack"] and len(argv) == 3:
        pack(argv[1], argv[2])
    else:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

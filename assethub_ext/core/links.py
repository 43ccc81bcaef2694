"""Sharing a file's bytes instead of copying them: reflinks and read-only hard links.

Used both ways: checkout links store objects into a folder, and ``add --link`` links a
user's large file into the store. A reflink (copy-on-write, where the file system has
it) gives an independent file; a hard link shares one inode, which is therefore made
read-only: published bytes can then change only if someone who may bypass file
permissions (root) writes to the file in place, and every read of an object verifies its
hash, so even that is caught, never served.
"""

from __future__ import annotations

import errno
import fcntl
import os

READ_ONLY = 0o444
WRITE_BITS = 0o222
_FICLONE = 0x40049409
NO_LINK_HERE = (errno.EXDEV, errno.EPERM, errno.EMLINK)
"""Errors that mean "this file system or this pair of folders cannot link": copy instead."""


def reflink(source: str, target: str) -> None:
    """Create ``target`` (exclusively, never through a symlink) sharing ``source``'s blocks."""
    with open(source, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.ioctl(fd, _FICLONE, src.fileno())
        except OSError:
            os.close(fd)
            os.unlink(target)
            raise
        os.close(fd)

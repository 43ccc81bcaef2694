"""Half of a file-heavy loop in a forked child, so that the two halves share no GIL.

Writing thousands of small files is Python work (read, verify, name each one) between
three system calls per file. Threads do not overlap that work, they queue for the GIL
(two writer threads were measured at twice the time of one). A forked child has an
interpreter of its own and sees the parent's memory copy-on-write, so the work needs no
pickling and no imports; only progress, an error and what the work returns (bytes) come
back, through a pipe.

Used only where a fork is safe and cheap: on Linux, in a process with a single thread (the
command line). The Jupyter server and kernels run several threads, and there the work
stays on one. A writing child dies with its parent (``PR_SET_PDEATHSIG``), so a killed
command leaves no writer behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

Work = Callable[[Callable[[int], None]], bytes | None]
"""What the child runs; it calls its argument with each amount of progress it makes, and
may return bytes for the parent (``Child.result``)."""

_PROGRESS, _ERROR, _RESULT = b"P", b"E", b"R"
_PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """True where ``forked`` may be used (Linux, this process running a single thread)."""
    return sys.platform == "linux" and threading.active_count() == 1


class Child:
    """The parent's view of the child: its progress so far, then its outcome."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self._fd = pid, fd
        self._buffer = bytearray()
        self._progress = 0
        self._error: bytes | None = None
        self.result = b""
        """What the work returned, once ``wait`` is done (empty if it returned None)."""
        os.set_blocking(fd, False)

    def progress(self) -> int:
        """Progress reported since the last call (never blocks)."""
        self._read(block=False)
        done, self._progress = self._progress, 0
        return done

    def wait(self) -> None:
        """Wait for the child to finish; raise what it raised, or say how it died."""
        self._read(block=True)
        self._close()
        _, status = os.waitpid(self.pid, 0)
        if self._error is not None:
            raise _unpickled(self._error)
        if status != 0:
            raise ChildProcessError(f"a helper process stopped ({_how(status)}); run it again.")

    def kill(self) -> None:
        """Stop the child now (the parent failed: its half is not worth finishing)."""
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self._close()

    def _close(self) -> None:
        os.close(self._fd)
        self._fd = -1

    def _read(self, *, block: bool) -> None:
        if self._fd < 0:  # the child is gone: all it said was read
            return
        os.set_blocking(self._fd, block)
        while True:
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buffer += chunk
            self._parse()

    def _parse(self) -> None:
        while len(self._buffer) >= 9:
            kind, value = self._buffer[:1], int.from_bytes(self._buffer[1:9], "little")
            if kind == _PROGRESS:
                self._progress += value
                del self._buffer[:9]
            elif len(self._buffer) >= 9 + value:
                data = bytes(self._buffer[9 : 9 + value])
                del self._buffer[: 9 + value]
                if kind == _ERROR:
                    self._error = data
                else:
                    self.result = data
            else:
                return


@contextmanager
def forked(work: Work, *, die_with_parent: bool = True) -> Iterator[Child]:
    """Run ``work`` in a forked child while the ``with`` block runs here.

    Leaving the block waits for the child and raises what it raised; an error in the block
    kills the child first. Call only where ``can_fork()`` is true.
    ``die_with_parent=False`` spares the ctypes import (5 ms) for work that only reads and
    ends by itself: a child whose parent is gone fails at its first write to the pipe.
    """
    libc = _libc() if die_with_parent else None
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: whatever happens, it never returns into the parent's code
        status = 1
        try:
            os.close(read_fd)
            status = _child_main(work, write_fd, libc, parent)
        finally:
            os._exit(status)
    os.close(write_fd)
    child = Child(pid, read_fd)
    try:
        yield child
    except BaseException:
        child.kill()
        raise
    child.wait()


def _libc() -> ctypes.CDLL:
    """Loaded before the fork: the child then only calls into it."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _child_main(work: Work, fd: int, libc: ctypes.CDLL | None, parent: int) -> int:
    """The child's whole life: returns its exit status, never raises."""
    try:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the line above took effect
                return 1
        result = work(lambda amount: _send(fd, _PROGRESS + amount.to_bytes(8, "little")))
        if result is not None:
            _send(fd, _RESULT + len(result).to_bytes(8, "little") + result)
    except BaseException as exc:
        data = _pickled(exc)
        with suppress(OSError):  # the parent is gone: nobody is left to tell
            _send(fd, _ERROR + len(data).to_bytes(8, "little") + data)
        return 1
    return 0


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pickled(exc: BaseException) -> bytes:
    """The exception itself where it survives a round trip, else a RuntimeError saying it."""
    import pickle  # only on the way out of a failed child

    try:
        data = pickle.dumps(exc)
        pickle.loads(data)
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return data


def _unpickled(data: bytes) -> BaseException:
    import pickle

    error = pickle.loads(data)
    return error if isinstance(error, BaseException) else RuntimeError(repr(error))


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"

"""The errors a user can cause, each carrying one clear sentence.

Every front end (CLI, REST API, magics) maps these the same way: the message is shown as
is, ``exit_code`` becomes the process status and ``http_status`` the API status. Anything
that is *not* an ``AssetHubError`` is a bug and may surface as a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class AssetHubError(Exception):
    """A request the hub refused or could not carry out; ``str(err)`` is for the user."""

    code = "error"
    exit_code = 1
    http_status = 400


class InvalidInput(AssetHubError):
    """A malformed name, ref, path or value (the request itself is wrong)."""

    code = "invalid"
    exit_code = 2


class NotFound(AssetHubError):
    code = "not_found"
    http_status = 404


class AlreadyExists(AssetHubError):
    code = "exists"
    http_status = 409


class Conflict(AssetHubError):
    """The request is valid but clashes with the hub's current state."""

    code = "conflict"
    http_status = 409


class BranchMoved(Conflict):
    """A compare-and-swap on a ref or draft lost a race with another writer."""

    code = "branch_moved"


class MergeConflict(Conflict):
    """A three-way merge found paths changed on both sides."""

    code = "merge_conflict"

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class Immutable(Conflict):
    """An attempt to change something that never changes (a published version, a tag)."""

    code = "immutable"


class InUse(Conflict):
    """A delete refused because something still depends on the target."""

    code = "in_use"


class PermissionDenied(AssetHubError):
    code = "forbidden"
    http_status = 403


class Unavailable(AssetHubError):
    """A service the hub stands on (its database, its object store) could not be reached."""

    code = "unavailable"
    http_status = 503


class StorageFull(Unavailable):
    """A write found no room: a full disk, a quota, a file-size limit, a read-only mount."""

    code = "storage_full"
    http_status = 507


NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


@contextmanager
def no_room_is_an_error(what: str, then: str) -> Iterator[None]:
    """Turn a write that found no room into one sentence: ``what`` could not be written
    (and why), then ``then``, which says what became of the half-done work.

    Other ``OSError``s pass through: they are not the user's to fix by making room.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        reason = (exc.strerror or "no room").lower()
        raise StorageFull(f"{what} could not be written ({reason}); {then}") from exc


class IntegrityError(AssetHubError):
    """Stored bytes do not match their hash, or an object is missing."""

    code = "integrity"
    http_status = 500

"""The errors a user can cause, each carrying one clear sentence.

Every front end (CLI, REST API, magics) maps these the same way: the message is shown as
is, ``exit_code`` becomes the process status and ``http_status`` the API status. Anything
that is *not* an ``AssetHubError`` is a bug and may surface as a traceback.
"""

from __future__ import annotations


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


class IntegrityError(AssetHubError):
    """Stored bytes do not match their hash, or an object is missing."""

    code = "integrity"
    http_status = 500

"""Where a hub lives and who is acting, from the environment.

``ASSETHUB_HOME`` (default ``~/.assethub``) holds the embedded hub; ``ASSETHUB_DB`` and
``ASSETHUB_STORE`` point elsewhere for a team hub; ``ASSETHUB_USER`` overrides the login
name headless, while the server passes its authenticated identity explicitly.
"""

from __future__ import annotations

import getpass
import os
from typing import NamedTuple

from .errors import InvalidInput
from .names import check_segment


class HubConfig(NamedTuple):
    """A named tuple, like the names it holds (see ``names.FolderPath``)."""

    home: str
    db_url: str
    store: str
    user: str

    @classmethod
    def from_env(cls, home: str | None = None, user: str | None = None) -> HubConfig:
        home = os.path.abspath(
            os.path.expanduser(home or os.environ.get("ASSETHUB_HOME") or "~/.assethub")
        )
        db_url = os.environ.get("ASSETHUB_DB") or f"sqlite:///{os.path.join(home, 'hub.sqlite')}"
        store = os.environ.get("ASSETHUB_STORE") or os.path.join(home, "store")
        if "://" in store and not store.startswith("s3://"):
            raise InvalidInput(
                f"object store '{store}' is not supported; use a local folder or s3://bucket/prefix."
            )
        acting = user or os.environ.get("ASSETHUB_USER") or getpass.getuser()
        return cls(home=home, db_url=db_url, store=store, user=check_segment(acting, "user name"))

    @property
    def workspace_index(self) -> str:
        return os.path.join(self.home, "workspace.sqlite")

    @property
    def object_cache(self) -> str:
        """This machine's verified copies of a remote store's objects."""
        return os.path.join(self.home, "cache")

"""Remotes: other hubs, named like git's, each a database URL and an object-store URL.

They are kept in ``remotes.json`` in this hub's home (mode 0600: a database URL may carry a
password), or given by the environment as ``ASSETHUB_REMOTE_<NAME>_DB`` and
``ASSETHUB_REMOTE_<NAME>_STORE`` (which win, so CI can name a remote without a file).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass

from .errors import InvalidInput, NotFound
from .names import check_segment, quote

DB_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


@dataclass(frozen=True)
class Remote:
    name: str
    db: str
    store: str


def check_remote(name: str, db: str, store: str) -> Remote:
    """A remote whose name and URLs are well formed (nothing is contacted here)."""
    check_segment(name, "remote name")
    if not db.startswith(DB_SCHEMES) or any(c in db for c in "\r\n\0"):
        raise InvalidInput(
            f"database URL {quote(db)} is not valid: use postgresql://… or sqlite:////absolute/path."
        )
    if db.startswith("sqlite:///") and not os.path.isabs(db[len("sqlite:///") :]):
        raise InvalidInput(f"database URL {quote(db)} must name an absolute path.")
    if store.startswith("s3://"):
        bucket = store[len("s3://") :].split("/", 1)[0]
        if not bucket or ".." in store:
            raise InvalidInput(f"store URL {quote(store)} is not valid: use s3://bucket/prefix.")
    elif "://" in store or not os.path.isabs(store) or "\0" in store:
        raise InvalidInput(
            f"store {quote(store)} is not valid: use s3://bucket/prefix or an absolute folder."
        )
    return Remote(name, db, store)


def _env_key(name: str, what: str) -> str:
    return f"ASSETHUB_REMOTE_{name.upper().replace('-', '_').replace('.', '_')}_{what}"


class Remotes:
    """The remotes of the hub whose home is ``home``."""

    def __init__(self, home: str) -> None:
        self.path = os.path.join(home, "remotes.json")

    def _saved(self) -> dict[str, dict[str, str]]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                saved = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"'{self.path}' is unreadable ({exc}); fix or remove it.") from exc
        return saved if isinstance(saved, dict) else {}

    def _write(self, saved: dict[str, dict[str, str]]) -> None:
        """Replace the file atomically, readable only by its owner."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".remotes.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(saved, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def add(self, name: str, db: str, store: str) -> Remote:
        remote = check_remote(name, db, store)
        saved = self._saved()
        saved[name] = {"db": db, "store": store}
        self._write(saved)
        return remote

    def remove(self, name: str) -> None:
        check_segment(name, "remote name")
        saved = self._saved()
        if saved.pop(name, None) is None:
            raise NotFound(f"there is no saved remote '{name}'; see 'assethub remote ls'.")
        self._write(saved)

    def get(self, name: str) -> Remote:
        check_segment(name, "remote name")
        entry = self._saved().get(name) or {}
        db = os.environ.get(_env_key(name, "DB")) or entry.get("db")
        store = os.environ.get(_env_key(name, "STORE")) or entry.get("store")
        if not db or not store:
            raise NotFound(
                f"there is no remote '{name}'; add it with 'assethub remote add {name} --db URL --store URL'."
            )
        return check_remote(name, db, store)

    def list(self) -> list[Remote]:
        return [self.get(name) for name in sorted(self._saved())]


def remote_dict(remote: Remote) -> dict[str, str]:
    return asdict(remote)

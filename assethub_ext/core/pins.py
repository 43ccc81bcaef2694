"""Pins: a notebook's claims "I use this version", kept in a lock file beside the notebook.

A pin resolves a ref once and keeps the commit id, so a rerun months later (in JupyterLab or
headless) reads the same bytes even after ``main`` or the dataset moved on. Moving a pin is
an explicit act (``update=True``). The lock file is plain JSON, meant to be committed to git
with the notebook; writers take an exclusive ``flock`` and replace the file atomically, so
two kernels pinning at once never lose each other's pins.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .checkouts import CheckoutOps
from .errors import AssetHubError, InvalidInput, NotFound
from .names import MAIN, check_tree_path, looks_like_commit_prefix, parse_ref, quote
from .progress import ProgressFactory, no_progress

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..storage.metadata import CommitRow
    from .workspace import CheckoutReport

LOCK_FORMAT = 1
LOCK_SUFFIX = ".assethub.lock"
FOLDER_LOCK = "assethub.lock"  # pins of a session whose notebook is unknown


@dataclass(frozen=True)
class Pin:
    """One pinned ref: what was asked for, the commit it resolved to, where its files go."""

    ref: str  # normalised "<asset path>:<ref>"
    asset: str
    commit: str
    dir: str  # relative to the notebook's folder
    pinned_at: float
    pinned_by: str


def lock_path_for(notebook: str | None, cwd: str) -> str:
    """The lock file of ``notebook`` (``train.ipynb`` → ``train.assethub.lock``).

    A session that cannot name its notebook (a terminal IPython, a kernel started without
    a session name) keeps its pins in ``assethub.lock`` in its working folder.
    """
    if not notebook:
        return os.path.join(cwd, FOLDER_LOCK)
    path = os.path.join(cwd, notebook)
    stem, _ = os.path.splitext(path)
    return stem + LOCK_SUFFIX


def normalise_ref(text: str) -> str:
    """``digits`` refs are written in full (``owner/type/folder/name:ref``) as pin keys."""
    ref = parse_ref(text)
    return f"{ref.path}:{ref.ref}"


def check_pin_dir(text: str) -> str:
    """A pin's folder must stay inside the notebook's folder: relative, no ``..``."""
    if text in ("", "."):
        raise InvalidInput("a pin needs a folder of its own; '.' would be the notebook's folder.")
    try:
        return check_tree_path(text)
    except InvalidInput as err:
        raise InvalidInput(
            f"pin folder {quote(text)} must be a relative path inside the notebook's folder."
        ) from err


def _pin_from_json(key: str, value: Any, source: str) -> Pin:
    """Validate one entry of a lock file: the file is user-editable, so trust nothing."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{source}: the pin {quote(key)} is not an object.")
    try:
        pin = Pin(
            ref=normalise_ref(key),
            asset=str(value["asset"]),
            commit=str(value["commit"]),
            dir=check_pin_dir(str(value["dir"])),
            pinned_at=float(value.get("pinned_at", 0.0)),
            pinned_by=str(value.get("pinned_by", "")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInput(f"{source}: the pin {quote(key)} is incomplete ({err}).") from err
    if pin.ref.split(":", 1)[0] != pin.asset or not looks_like_commit_prefix(pin.commit):
        raise InvalidInput(f"{source}: the pin {quote(key)} names a different asset or no commit.")
    return pin


class PinFile:
    """The pins of one notebook, read from and written to its lock file."""

    def __init__(self, path: str, notebook: str | None = None) -> None:
        self.path = os.path.abspath(path)
        self.notebook = notebook
        self.pins: dict[str, Pin] = {}

    @property
    def folder(self) -> str:
        """Pin folders are relative to this one: the notebook's folder."""
        return os.path.dirname(self.path)

    @classmethod
    def load(cls, path: str, notebook: str | None = None) -> PinFile:
        """Read a lock file; a missing one is an empty set of pins."""
        pins = cls(path, notebook)
        try:
            with open(pins.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return pins
        except OSError as err:
            raise InvalidInput(f"cannot read the lock file {quote(path)}: {err.strerror}.") from err
        pins._parse(text)
        return pins

    def _parse(self, text: str) -> None:
        source = f"lock file {quote(os.path.basename(self.path))}"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInput(f"{source} is not valid JSON (line {err.lineno}).") from err
        if not isinstance(data, dict) or data.get("assethub_lock") != LOCK_FORMAT:
            raise InvalidInput(f"{source} is not an Asset Hub lock file of format {LOCK_FORMAT}.")
        entries = data.get("pins", {})
        if not isinstance(entries, dict):
            raise InvalidInput(f"{source}: 'pins' must be an object.")
        self.notebook = data.get("notebook") or self.notebook
        self.pins = {
            pin.ref: pin for pin in (_pin_from_json(k, v, source) for k, v in entries.items())
        }

    def to_json(self) -> dict[str, Any]:
        entries = {
            ref: {k: v for k, v in asdict(pin).items() if k != "ref"}
            for ref, pin in self.pins.items()
        }
        return {
            "assethub_lock": LOCK_FORMAT,
            "notebook": self.notebook,
            "pins": dict(sorted(entries.items())),
        }

    def save(self) -> None:
        """Replace the lock file atomically (temporary file, fsync, rename)."""
        text = json.dumps(self.to_json(), indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".assethub-lock-", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    @contextlib.contextmanager
    def editing(cls, path: str, notebook: str | None = None) -> Iterator[PinFile]:
        """Read-modify-write under an exclusive lock; saved only if the block succeeds."""
        folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)  # the file itself is replaced: lock its folder
            pins = cls.load(path, notebook)
            yield pins
            pins.save()
        finally:
            os.close(folder)  # closing releases the lock

    def dir_owner(self, folder: str) -> Pin | None:
        """The pin whose files live in ``folder``, if any."""
        return next((pin for pin in self.pins.values() if pin.dir == folder), None)


def new_pin(ref: str, asset: str, commit: str, folder: str, user: str) -> Pin:
    return Pin(
        ref=ref, asset=asset, commit=commit, dir=folder, pinned_at=time.time(), pinned_by=user
    )


@dataclass(frozen=True)
class PinResult:
    """What ``Hub.pin`` did: the pin now in force, the one it replaced, and the files."""

    pin: Pin
    previous: Pin | None
    path: str
    commit: CommitRow
    report: CheckoutReport

    @property
    def moved(self) -> bool:
        return self.previous is not None and self.previous.commit != self.pin.commit


class PinOps(CheckoutOps):
    """Pinning refs for notebooks: resolve once, keep the commit, check it out."""

    def pin(
        self,
        ref: str,
        pins: PinFile,
        *,
        to: str | None = None,
        update: bool = False,
        progress: ProgressFactory = no_progress,
    ) -> PinResult:
        """Resolve ``ref`` once and keep the commit in ``pins``; materialise its files.

        An existing pin is reused as it is (that is the point of pinning) unless ``update``
        asks to resolve the ref again.
        """
        key = normalise_ref(ref)
        previous = pins.pins.get(key)
        folder = check_pin_dir(to) if to is not None else self._default_dir(key, previous)
        if previous is not None and not update:
            _, commit = self.resolve_commit(f"{previous.asset}:{previous.commit}")
        else:
            _, commit = self.resolve_commit(key)
        owner = pins.dir_owner(folder)
        if owner is not None and owner.ref != key:
            raise InvalidInput(
                f"folder {quote(folder)} already holds the pin {owner.ref}; choose another with --to."
            )
        asset = key.split(":", 1)[0]
        pin = new_pin(key, asset, commit.id, folder, self.user)
        if previous is not None and previous.commit == pin.commit and previous.dir == folder:
            pin = previous  # unchanged: keep when and by whom it was made
        path = os.path.join(pins.folder, folder)
        checkout = self.checkout(f"{asset}:{commit.id}", path, progress=progress)
        pins.pins[key] = pin
        return PinResult(pin, previous, path, commit, checkout.report)

    @staticmethod
    def _default_dir(key: str, previous: Pin | None) -> str:
        """A pin's folder defaults to where it was, else to the asset's name."""
        if previous is not None:
            return previous.dir
        return key.split(":", 1)[0].rsplit("/", 1)[1]

    def unpin(self, ref: str, pins: PinFile) -> Pin:
        """Forget a pin (its files stay); ``ref`` may be the asset alone if it has one pin."""
        matches = [pins.pins[normalise_ref(ref)]] if normalise_ref(ref) in pins.pins else []
        if not matches and ":" not in ref:
            matches = [pin for pin in pins.pins.values() if pin.asset == str(parse_ref(ref).path)]
        if len(matches) != 1:
            known = ", ".join(sorted(pins.pins)) or "none"
            what = "several pins" if matches else "no pin"
            raise (InvalidInput if matches else NotFound)(
                f"this notebook has {what} for {quote(ref)} (its pins: {known})."
            )
        return pins.pins.pop(matches[0].ref)

    def pin_status(self, pins: Iterable[Pin]) -> list[dict[str, Any]]:
        """Each pin with what its ref resolves to now and whether the asset has moved past it.

        ``newer`` is true when the ref itself moved (a branch got commits) or the asset's
        ``main`` holds a commit that the pinned one does not contain (a new version).
        """
        return [self._one_pin_status(pin) for pin in pins]

    def _one_pin_status(self, pin: Pin) -> dict[str, Any]:
        status: dict[str, Any] = {**asdict(pin), "current": None, "latest": None, "newer": False}
        try:
            with self.meta.read() as conn:
                status["current"] = self._resolve(conn, pin.ref).commit_id
                status["latest"] = self._latest(conn, pin.asset)
                contained = {c.id for c in self.meta.ancestors(conn, [pin.commit], None)}
        except AssetHubError as err:
            status["error"] = str(err)
            return status
        moved = status["current"] not in (None, pin.commit)
        status["newer"] = moved or status["latest"] not in (None, *contained)
        return status

    def _latest(self, conn: Connection, asset: str) -> str | None:
        try:
            return self._resolve(conn, f"{asset}:{MAIN}").commit_id
        except NotFound:
            return None  # nothing published or committed yet

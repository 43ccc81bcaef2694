"""Parsing and validation of asset paths, refs, ref names and paths inside a tree.

The grammar is deliberately strict and ASCII-only so that a name means one thing on every
file system, in URLs and in SQL: anything else is refused here, at the edge, and again by
the core before it touches storage.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from .errors import InvalidInput

AssetType = Literal["dataset", "model"]
ASSET_TYPES: tuple[AssetType, ...] = ("dataset", "model")

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_COMMIT_PREFIX = re.compile(r"[0-9a-f]{7,64}", re.ASCII)
_VERSION = re.compile(r"v([1-9][0-9]{0,8})", re.ASCII)
MAX_REF_NAME = 255
MAX_TREE_PATH = 4096
MAX_TREE_SEGMENT = 255

MAIN = "main"
DRAFT = "draft"


def quote(text: str) -> str:
    """A user-supplied string as it may appear in a one-line message: quoted, escaped, short."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return repr(shown)


def check_segment(text: str, what: str) -> str:
    """Return ``text`` if it is a valid path segment, else raise ``InvalidInput``."""
    if not _SEGMENT.fullmatch(text):
        raise InvalidInput(
            f"{what} {quote(text)} is not valid: use 1-64 ASCII letters, digits, '.', '_' "
            "or '-', starting with a letter or digit."
        )
    return text


def check_asset_type(text: str) -> AssetType:
    if text == "dataset":
        return "dataset"
    if text == "model":
        return "model"
    raise InvalidInput(f"asset type {quote(text)} is not valid: use 'dataset' or 'model'.")


class FolderPath(NamedTuple):
    """``<owner>/<type>/<folder>``: the unit of ownership and sharing.

    Named tuples, not dataclasses, here and below: ``assethub status`` parses a path, and
    ``dataclasses`` imports ``inspect``, a tenth of that command's start-up."""

    owner: str
    type: AssetType
    folder: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.type}/{self.folder}"


class AssetPath(NamedTuple):
    """``<owner>/<type>/<folder>/<name>``."""

    owner: str
    type: AssetType
    folder: str
    name: str

    @property
    def folder_path(self) -> FolderPath:
        return FolderPath(self.owner, self.type, self.folder)

    def __str__(self) -> str:
        return f"{self.owner}/{self.type}/{self.folder}/{self.name}"


class AssetRef(NamedTuple):
    """An asset path and the ref written after its colon (``main`` when none was written)."""

    path: AssetPath
    ref: str

    def __str__(self) -> str:
        return f"{self.path}:{self.ref}"


def _split(text: str, what: str) -> list[str]:
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"{what} is empty: write it as owner/type/folder/name.")
    parts = text.split("/")
    if any(part == "" for part in parts):
        raise InvalidInput(f"{what} {quote(text)} has an empty segment.")
    return parts


def _make_folder(parts: list[str]) -> FolderPath:
    owner, type_, folder = parts
    return FolderPath(
        check_segment(owner, "owner"), check_asset_type(type_), check_segment(folder, "folder")
    )


def parse_folder_path(text: str) -> FolderPath:
    parts = _split(text, "folder path")
    if len(parts) != 3:
        raise InvalidInput(f"folder path {quote(text)} must have 3 segments: owner/type/folder.")
    return _make_folder(parts)


def parse_asset_path(text: str) -> AssetPath:
    parts = _split(text, "asset path")
    if ":" in text:
        raise InvalidInput(
            f"asset path {quote(text)} must not contain ':' (a ref is not allowed here)."
        )
    if len(parts) != 4:
        raise InvalidInput(
            f"asset path {quote(text)} must have 4 segments: owner/type/folder/name."
        )
    folder = _make_folder(parts[:3])
    return AssetPath(folder.owner, folder.type, folder.folder, check_segment(parts[3], "name"))


def parse_path(text: str) -> FolderPath | AssetPath:
    """A folder path (3 segments) or an asset path (4 segments)."""
    parts = _split(text, "path")
    if len(parts) == 3 and ":" not in text:
        return _make_folder(parts)
    return parse_asset_path(text)


def check_ref_name(text: str, what: str = "ref") -> str:
    """Branch and tag names: segments separated by '/', e.g. ``sweeps/study1/trial-7``."""
    if not text:
        raise InvalidInput(f"{what} name is empty.")
    if len(text) > MAX_REF_NAME:
        raise InvalidInput(f"{what} name is longer than {MAX_REF_NAME} characters.")
    for segment in text.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidInput(
                f"{what} name {quote(text)} is not valid: use segments of ASCII letters, "
                "digits, '.', '_' or '-' separated by '/', each starting with a letter or digit."
            )
    return text


def parse_ref(text: str, default: str = MAIN) -> AssetRef:
    """``<asset path>[:<ref>]``; the ref is checked for shape, not for existence."""
    if not isinstance(text, str) or not text:
        raise InvalidInput("asset ref is empty: write it as owner/type/folder/name[:ref].")
    path_text, colon, ref = text.partition(":")
    path = parse_asset_path(path_text)
    if not colon:
        return AssetRef(path, default)
    if ":" in ref:
        raise InvalidInput(f"asset ref {quote(text)} has more than one ':'.")
    return AssetRef(path, check_ref_name(ref))


def looks_like_commit_prefix(text: str) -> bool:
    return bool(_COMMIT_PREFIX.fullmatch(text))


def version_number(name: str) -> int | None:
    """``v12`` -> 12; anything else -> None."""
    match = _VERSION.fullmatch(name)
    return int(match.group(1)) if match else None


_FORBIDDEN = r"/\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_TREE_PART = rf"(?!\.\.?(?:/|\Z))[^{_FORBIDDEN}]+"
_TREE_PATH = re.compile(rf"{_TREE_PART}(?:/{_TREE_PART})*")
"""Relative, '/'-separated, no empty, '.' or '..' parts; no backslash, no C0 or C1 control
character, no line separator, and no lone surrogate (a name that was not valid UTF-8)."""


def check_tree_path(text: str) -> str:
    """A file's path inside a commit: relative, '/'-separated, no '.', '..' or empty parts.

    Checked when files enter a tree *and* when a tree is materialised, so that no stored
    path can ever escape the folder it is checked out into.
    """
    if not isinstance(text, str) or not text:
        raise InvalidInput("file path is empty.")
    if len(text) > MAX_TREE_PATH:
        raise InvalidInput(f"file path is longer than {MAX_TREE_PATH} characters.")
    if not _TREE_PATH.fullmatch(text):
        raise InvalidInput(
            f"file path {quote(text)} must be relative, use '/' as separator, and have no empty, "
            "'.' or '..' parts, backslashes or control characters."
        )
    if len(text) > MAX_TREE_SEGMENT // 4 and any(
        len(part.encode("utf-8", "surrogateescape")) > MAX_TREE_SEGMENT for part in text.split("/")
    ):
        raise InvalidInput(f"file path {quote(text)} has a part over {MAX_TREE_SEGMENT} bytes.")
    return text

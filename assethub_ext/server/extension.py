"""Register the Asset Hub REST handlers with a running jupyter-server.

Every handler subclasses ``AssetHubHandler``, is decorated ``@tornado.web.authenticated``
outermost and then ``@authorized``, and names ``auth_resource = AUTH_RESOURCE`` so that
jupyter-server's authorizer decides who may read (GET) or write (POST/PUT/DELETE); the
hub's own folder permissions are then checked by the core for the signed-in user. Each
handler reads its input, calls one ``Hub`` method and serialises the result. The endpoints
are described in ``openapi.yaml`` next to this file; a test keeps the two in step.
"""

from __future__ import annotations

import gc
import mimetypes
import os
import re
from typing import Any
from urllib.parse import quote as url_quote

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join

from .._version import __version__
from ..core.errors import InvalidInput, NotFound
from ..core.history import MAX_LINEAGE_DEPTH
from ..core.names import check_tree_path, parse_asset_path, parse_folder_path, quote
from ..core.pins import PinFile, lock_path_for
from . import views
from .base import (
    AUTH_RESOURCE,
    HUB_SETTING,
    AssetHubHandler,
    RangeNotSatisfiable,
    answer_key,
    encode_json,
    pinned,
)
from .cache import IMMUTABLE

__all__ = ["AUTH_RESOURCE", "AssetHubExtension", "api_handlers"]

API_PREFIX = ("assethub", "api")
PAGE = 100
CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})", re.ASCII)


class VersionHandler(AssetHubHandler):
    """``GET /assethub/api/version``: the server's Asset Hub version, for the panel's handshake."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"version": __version__})


class ChangesHandler(AssetHubHandler):
    """``GET /assethub/api/changes``: a token that changes when anything in the hub changes.

    The panel polls it (cheap: the hub's count of writes, one indexed read) to refresh after
    the CLI, a kernel or a pipeline wrote to the hub.
    """

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"generation": self.hub.generation()})


class FoldersHandler(AssetHubHandler):
    """Folders you may read; create a folder; delete an (empty) folder."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        owner, type_ = self.arg("owner", ""), self.arg("type", "")
        if type_ and not owner:
            raise InvalidInput("filter by type only together with an owner.")
        self.finish({"folders": self.hub.ls("/".join(p for p in (owner, type_) if p))})

    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        path = str(parse_folder_path(_text(self.body(), "path")))
        self.set_status(201)
        self.finish({"path": self.hub.create(path)})

    @tornado.web.authenticated
    @authorized
    def delete(self) -> None:
        path = str(parse_folder_path(self.required_arg("path")))
        self.finish({"deleted": self.hub.delete(path, force=self.bool_arg("force"))})


class AssetsHandler(AssetHubHandler):
    """Assets you may read, filtered and paged; create an asset."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        page = self.hub.find_assets(
            owner=self.optional_arg("owner"),
            type=self.optional_arg("type"),
            folder=self.optional_arg("folder"),
            text=self.optional_arg("q"),
            limit=self.int_arg("limit", PAGE),
            cursor=self.optional_arg("cursor"),
        )
        self.finish({"assets": page.items, "next": page.next})

    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        path = str(parse_asset_path(_text(body, "path")))
        description = _text(body, "description", "")
        self.set_status(201)
        self.finish({"path": self.hub.create(path, description)})


class AssetHandler(AssetHubHandler):
    """One asset: describe it, or delete it."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(self.hub.describe(self.required_arg("path")))

    @tornado.web.authenticated
    @authorized
    def delete(self) -> None:
        path = str(parse_asset_path(self.required_arg("path")))
        self.finish({"deleted": self.hub.delete(path, force=self.bool_arg("force"))})


class RefsHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(self.hub.refs(self.required_arg("path")))


class LogHandler(AssetHubHandler):
    """A page of history: fixed by its head commit, or by the commit ids its cursor holds."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        ref, cursor = self.required_arg("ref"), self.optional_arg("cursor")
        limit = self.int_arg("limit", PAGE)
        resolved = self.hub.resolve(ref)
        key: str | None
        if cursor is not None:  # of this asset, and not of another that once had its id
            asset = resolved.asset
            key = answer_key("log", asset.id, asset.created_at, limit, cursor)
        else:
            key = answer_key("log", resolved.commit_id, limit) if resolved.commit_id else None

        def build() -> tuple[dict[str, Any], str | None]:
            page = self.hub.log_page(resolved, limit=limit, cursor=cursor)
            if cursor is not None:
                return views.log_page(page), key
            head = page.items[0].id if page.items else None
            return views.log_page(page), answer_key("log", head, limit)

        self.finish_json(build, key=key, immutable=cursor is not None or pinned(ref, resolved))


class CommitHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(views.show(self.hub.show(self.required_arg("ref"))))


class TreeHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        ref, prefix = self.required_arg("ref"), self.arg("prefix", "")
        limit, cursor = self.int_arg("limit", PAGE), self.optional_arg("cursor")
        resolved = self.hub.resolve(ref)

        def key(commit_id: str | None) -> str | None:
            return answer_key("tree", commit_id, prefix, limit, cursor) if commit_id else None

        def build() -> tuple[dict[str, Any], str | None]:
            head, page = self.hub.tree_page(resolved, prefix=prefix, limit=limit, cursor=cursor)
            return views.tree_page(head, page), key(head.id)

        self.finish_json(build, key=key(resolved.commit_id), immutable=pinned(ref, resolved))


class DiffHandler(AssetHubHandler):
    """Two refs compared; the file changes paged like the other listings."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        a, b = self.required_arg("a"), self.required_arg("b")
        limit, cursor = self.int_arg("limit", PAGE), self.optional_arg("cursor")
        both = all([self.names_a_commit(ref) for ref in (a, b)])  # both checked for access
        key = answer_key("diff", a, b, limit, cursor) if both else None  # it names a and b
        self.finish_json(
            lambda: (views.diff(*self.hub.diff_page(a, b, limit=limit, cursor=cursor)), key),
            key=key,
            immutable=both,
        )


class LineageHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        direction = self.arg("direction", "up")
        if direction not in ("up", "down", "both"):
            raise InvalidInput("direction must be up, down or both.")
        depth = self.int_arg("depth", 3)
        if not 1 <= depth <= MAX_LINEAGE_DEPTH:
            raise InvalidInput(f"depth must be between 1 and {MAX_LINEAGE_DEPTH}.")
        graph = self.hub.lineage(
            self.required_arg("ref"),
            up=direction != "down",
            down=direction != "up",
            depth=depth,
        )
        self.finish(encode_json(views.lineage(graph)))


class SweepHandler(AssetHubHandler):
    """A model's sweep studies; with ``study``, its trials, objective curves and exploits."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        path, study = self.required_arg("path"), self.optional_arg("study")
        if study is None:
            self.finish(self.hub.studies(path))
            return
        self.finish(
            self.hub.study(
                path,
                study,
                metric=self.optional_arg("metric"),
                direction=self.optional_arg("direction"),
            )
        )


class FileHandler(AssetHubHandler):
    """One file of a commit, streamed; ``Range: bytes=a-b`` gives part of it (206).

    ``HEAD`` gives the same headers without the bytes. The ETag is the file's content
    hash, so a client holding it gets a 304; addressed by a full commit id, the file is
    also marked immutable for the client's cache.
    """

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self._send()

    @tornado.web.authenticated
    @authorized
    async def head(self) -> None:
        await self._send()

    async def _send(self) -> None:
        ref = self.required_arg("ref")
        immutable = self.names_a_commit(ref)
        blob = self.hub.open_file(ref, self.required_arg("path"))
        self.set_header("ETag", f'"{blob.digest}"')
        if immutable:
            self.set_header("Cache-Control", IMMUTABLE)
        kind = mimetypes.guess_type(blob.path, strict=False)[0] or "application/octet-stream"
        if self.not_modified():
            self.finish(set_content_type=kind)
            return
        start, end = _byte_range(self.request.headers.get("Range"), blob.size)
        self.set_header("Content-Type", kind)
        self.set_header("Content-Length", str(end - start))
        self.set_header("Accept-Ranges", "bytes")
        name = url_quote(blob.path.rpartition("/")[2], safe="")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{name}")
        if (start, end) != (0, blob.size):
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{blob.size}")
        if self.request.method != "HEAD":
            for chunk in blob.read(start, end):
                self.write(chunk)
                await self.flush()
        self.finish(set_content_type=kind)


class BranchesHandler(AssetHubHandler):
    """A model's branches: list, create, delete."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"branches": self.hub.branch_list(self.required_arg("path"))})

    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        name = _text(body, "name")
        commit_id = self.hub.branch_create(_text(body, "ref"), name)
        self.set_status(201)
        self.finish({"name": name, "commit": commit_id})

    @tornado.web.authenticated
    @authorized
    def delete(self) -> None:
        path, name = self.required_arg("path"), self.required_arg("name")
        commit_id = self.hub.branch_delete(path, name, force=self.bool_arg("force"))
        self.finish({"name": name, "commit": commit_id})


class TagsHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        name = _text(body, "name")
        commit_id = self.hub.tag(_text(body, "ref"), name)
        self.set_status(201)
        self.finish({"name": name, "commit": commit_id})


class MergeHandler(AssetHubHandler):
    """Merge a ref into a branch; conflicting paths come back as a 409 with their list."""

    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        result = self.hub.merge(
            _text(body, "path"),
            _text(body, "source"),
            into=_text(body, "into", "main"),
            strategy=_text(body, "strategy", None),
            message=_text(body, "message", ""),
        )
        self.finish(
            {
                "path": result.path,
                "into": result.into,
                "commit": result.commit_id,
                "kind": result.kind,
                "resolved": result.resolved,
            }
        )


class PublishHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        published = self.hub.publish(_text(body, "path"), _text(body, "message", ""))
        self.finish(
            {
                "path": published.path,
                "version": published.version,
                "commit": published.commit_id,
                "files": published.files,
                "size": published.size,
            }
        )


class DeriveHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        change = self.hub.derive(_text(body, "path"), _text(body, "from"), force=_flag(body))
        self.finish(_draft_change(change))


class RestoreHandler(AssetHubHandler):
    @tornado.web.authenticated
    @authorized
    def post(self) -> None:
        body = self.body()
        files = body.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise InvalidInput("'files' must be a list of file paths.")
        change = self.hub.restore(_text(body, "path"), _text(body, "from"), files)
        self.finish(_draft_change(change))


class GrantsHandler(AssetHubHandler):
    """A folder's grants; its owner changes them (``level`` null revokes)."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(self.hub.grants(self.required_arg("folder")))

    @tornado.web.authenticated
    @authorized
    def put(self) -> None:
        body = self.body()
        folder, principal = _text(body, "folder"), _text(body, "principal")
        if "level" not in body:
            raise InvalidInput("'level' is missing: read, run, edit, or null to revoke.")
        self.hub.share(folder, principal, _text(body, "level", None))
        self.finish(self.hub.grants(folder))


class PinsHandler(AssetHubHandler):
    """What a notebook pins, and whether each pinned ref now resolves to something newer."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        name = self.required_arg("notebook")
        notebook = _inside_root(self.settings["server_root_dir"], name)
        if not os.path.isfile(notebook):
            raise NotFound(f"notebook {quote(name)} does not exist under the server's root.")
        lock = _inside_root(self.settings["server_root_dir"], lock_path_for(name, ""))
        pins = PinFile.load(lock)
        self.finish({"notebook": name, "pins": self.hub.pin_status(pins.pins.values())})


def _inside_root(root: str, relative: str) -> str:
    """``relative`` under the server's root: no '..', not absolute, no symlink out of it."""
    try:
        check_tree_path(relative)
    except InvalidInput:
        raise InvalidInput(
            f"notebook path {quote(relative)} must be relative to the server's root, without '..'."
        ) from None
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, relative))
    if os.path.commonpath([real_root, path]) != real_root:
        raise InvalidInput(f"notebook path {quote(relative)} leads out of the server's root.")
    return path


def _text(body: dict[str, Any], name: str, default: Any = ...) -> Any:
    """A string field of a JSON body; ``default`` (which may be None) when it is absent."""
    value = body.get(name, default)
    if value is ...:
        raise InvalidInput(f"'{name}' is missing from the request body.")
    if value is not default and not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.")
    return value


def _flag(body: dict[str, Any]) -> bool:
    value = body.get("force", False)
    if not isinstance(value, bool):
        raise InvalidInput("'force' must be true or false.")
    return value


def _draft_change(change: Any) -> dict[str, Any]:
    return {
        "path": change.path,
        "revision": change.revision,
        "files": change.files,
        "changes": [{"path": c.path, "status": c.status} for c in change.changes],
    }


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """``[start, end)`` of a ``Range`` header; the whole file when absent or not a single range.

    An unreadable or multi-part header is ignored (RFC 9110 lets a server do so); a range
    no byte satisfies is a 416.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return 0, size
    first, last = match.group(1), match.group(2)
    if first == "":
        return max(0, size - int(last)), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise RangeNotSatisfiable(size)
    return start, end


def api_handlers() -> list[tuple[str, type[AssetHubHandler]]]:
    """The (path below ``/assethub/api/``, handler class) pairs this extension serves."""
    return [
        ("version", VersionHandler),
        ("changes", ChangesHandler),
        ("folders", FoldersHandler),
        ("assets", AssetsHandler),
        ("asset", AssetHandler),
        ("refs", RefsHandler),
        ("log", LogHandler),
        ("commit", CommitHandler),
        ("tree", TreeHandler),
        ("diff", DiffHandler),
        ("lineage", LineageHandler),
        ("sweep", SweepHandler),
        ("file", FileHandler),
        ("branches", BranchesHandler),
        ("tags", TagsHandler),
        ("merge", MergeHandler),
        ("publish", PublishHandler),
        ("derive", DeriveHandler),
        ("restore", RestoreHandler),
        ("grants", GrantsHandler),
        ("pins", PinsHandler),
    ]


def freeze_startup_objects() -> None:
    """Leave what the server built at startup out of every later garbage collection.

    Run once the event loop starts, after every extension has loaded. A started
    jupyter-server holds about 330,000 objects that the garbage collector tracks (modules,
    classes, functions, JupyterLab's settings and schemas), and they live as long as the
    process. CPython collects the oldest generation whenever the objects that survived
    younger collections reach a quarter of those it already holds: a few hundred pages
    keep that many objects alive across a collection, so every few seconds of load one
    full collection walked them all, 70 to 130 ms with the event loop stopped (measured
    with ``gc.callbacks`` in the API bench: five such pauses in 3,000 requests, each
    holding the 32 requests in flight; it was the one-time ~100 ms pause of the
    latency tables). ``gc.freeze()`` moves them to a permanent generation that
    collections skip; a full collection then walks only what came later (0.6 ms).

    Collected first, so that no garbage is frozen. Frozen objects are still freed when
    nothing refers to them any more; only a reference cycle among them would be kept,
    and startup objects are not dropped. Caches filled later (trees, lineage, answers)
    are not frozen: they evict and free as before.
    """
    gc.collect()
    gc.freeze()


class AssetHubExtension(ExtensionApp):
    """The extension as jupyter-server starts and stops it: routes in, and the hub closed.

    An ``ExtensionApp`` rather than a bare load function, for its stop hook: the one hub the
    server opened (its database engine and object store) is closed when the server shuts
    down, instead of being left for the process's exit.
    """

    name = "assethub_ext"
    load_other_extensions = True

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            (url_path_join(*API_PREFIX, path), handler) for path, handler in api_handlers()
        )
        self.log.info("Asset Hub %s: API at /%s/", __version__, "/".join(API_PREFIX))
        if self.serverapp is not None:
            self.serverapp.io_loop.add_callback(freeze_startup_objects)

    async def stop_extension(self) -> None:
        hub = self.serverapp.web_app.settings.pop(HUB_SETTING, None) if self.serverapp else None
        if hub is not None:
            hub.close()

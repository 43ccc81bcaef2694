"""The base of every Asset Hub handler: who acts, strict input at the edge, one error mapping.

Handlers stay thin: read and check their input here, call one ``Hub`` method, serialise.
Every refusal leaves as ``{"error": <kind>, "message": <one sentence>}`` with a 4xx status,
from the one place below (``write_error``), whatever raised it: the core (an
``AssetHubError`` carries its status), tornado or jupyter-server (an ``HTTPError``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.base.handlers import APIHandler
from tornado.web import HTTPError

from ..core.errors import AssetHubError, InvalidInput, MergeConflict, PermissionDenied
from ..core.names import quote
from .cache import CACHE_MIB, CACHE_SETTING, IMMUTABLE, ResponseCache

if TYPE_CHECKING:
    from ..core.context import Resolved
    from ..core.hub import Hub

AUTH_RESOURCE = "assethub_ext:assets"
HUB_SETTING = "assethub_hub"
RESPONSES_SETTING = "assethub_responses"
ANONYMOUS_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)
"""jupyter-server's own providers name a token-authenticated caller "Anonymous <moon>", a
new random id per browser: on a personal server the caller is the server's own user."""
HTTP_KINDS = {400: "invalid", 403: "forbidden", 404: "not_found", 405: "invalid", 416: "range"}

log = logging.getLogger(__name__)


class RangeNotSatisfiable(HTTPError):
    """A Range header that no byte of the file satisfies (416, with the file's size)."""

    def __init__(self, size: int) -> None:
        super().__init__(416, "the requested byte range is outside the file's %d bytes", size)
        self.size = size


class AssetHubHandler(APIHandler):
    """Base class for every Asset Hub handler."""

    auth_resource = AUTH_RESOURCE

    # -- the acting user -------------------------------------------------------------------
    @cached_property
    def hub(self) -> Hub:
        """The hub of the server's configuration, acted on by the signed-in user (one per request)."""
        root: Hub | None = self.settings.get(HUB_SETTING)
        if root is None:
            from ..core.hub import Hub

            root = self.settings[HUB_SETTING] = Hub()
        if type(self.identity_provider) in ANONYMOUS_PROVIDERS:
            return root
        name = self.current_user.username
        try:
            return root.as_user(name)
        except InvalidInput as err:
            raise PermissionDenied(
                f"the signed-in user {quote(name)} has no valid hub user name: {err}"
            ) from None

    # -- answers that cannot change --------------------------------------------------------
    def names_a_commit(self, ref: str) -> bool:
        """Check that the signed-in user may read ``ref``; true when it is a full commit id."""
        return pinned(ref, self.hub.resolve(ref))

    def finish_json(
        self,
        build: Callable[[], tuple[dict[str, Any], str | None]],
        *,
        key: str | None,
        immutable: bool = False,
    ) -> None:
        """Finish with the answer kept under ``key``, or with the one ``build()`` makes.

        ``key`` (``answer_key``) names what fixes the answer: full commit ids, and the
        query's other arguments; None when nothing does (a draft). Callers make it from refs
        they resolved for the signed-in user, which is what checks access before a kept
        answer goes out. ``build`` returns the answer and the key of what it was made from:
        a branch that moved since it was resolved gives an answer about its new commit, sent
        but not kept under the old one. Every kept answer has a strong ETag (304 on a
        matching ``If-None-Match``); ``immutable`` (the URL names commits by full id) also
        lets clients keep it.
        """
        cache = self.responses
        kept = cache.get(key) if cache is not None and key is not None else None
        if kept is None:
            answer, made_of = build()
            if cache is None or key is None or made_of != key:
                self.finish(encode_json(answer))
                return
            kept = cache.keep(key, encode_json(answer))
        if immutable:
            self.set_header("Cache-Control", IMMUTABLE)
        self.set_header("ETag", kept[1])
        self.finish(None if self.not_modified() else kept[0])

    def not_modified(self) -> bool:
        """True (and the status set to 304) when ``If-None-Match`` names this answer's ETag.

        Tornado checks ETags by itself only for those it computes; ours are set by us.
        """
        if not self.check_etag_header():
            return False
        self.set_status(304)
        return True

    @property
    def responses(self) -> ResponseCache | None:
        """The server's one response cache (None when configured to 0 MiB)."""
        if RESPONSES_SETTING not in self.settings:
            mib = self.settings.get(CACHE_SETTING, CACHE_MIB)
            self.settings[RESPONSES_SETTING] = ResponseCache(mib * 2**20) if mib else None
        cache: ResponseCache | None = self.settings[RESPONSES_SETTING]
        return cache

    # -- input, checked at the edge --------------------------------------------------------
    def optional_arg(self, name: str) -> str | None:
        """One query argument, as sent: strict UTF-8, not stripped, given at most once."""
        values = self.request.query_arguments.get(name, [])
        if len(values) > 1:
            raise InvalidInput(f"give the query argument '{name}' once.")
        try:
            return values[0].decode("utf-8") if values else None
        except UnicodeDecodeError:
            raise InvalidInput(f"the query argument '{name}' is not valid UTF-8.") from None

    def arg(self, name: str, default: str) -> str:
        value = self.optional_arg(name)
        return default if value is None else value

    def required_arg(self, name: str) -> str:
        value = self.optional_arg(name)
        if value is None:
            raise InvalidInput(f"the query argument '{name}' is missing.")
        return value

    def int_arg(self, name: str, default: int) -> int:
        text = self.optional_arg(name)
        if text is None:
            return default
        if not text.isascii() or not text.isdigit() or len(text) > 9:
            raise InvalidInput(f"the query argument '{name}' must be a whole number.")
        return int(text)

    def bool_arg(self, name: str) -> bool:
        text = self.arg(name, "false")
        if text not in ("true", "false"):
            raise InvalidInput(f"the query argument '{name}' must be true or false.")
        return text == "true"

    def body(self) -> dict[str, Any]:
        """The request's JSON object."""
        try:
            value = json.loads(self.request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the request body must be a JSON object.") from None
        if not isinstance(value, dict):
            raise InvalidInput("the request body must be a JSON object.")
        return value

    # -- the one error mapping -------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs["exc_info"][1] if "exc_info" in kwargs else None
        reply: dict[str, Any]
        if isinstance(exc, AssetHubError):
            status_code = exc.http_status
            reply = {"error": exc.code, "message": str(exc)}
            if isinstance(exc, MergeConflict):
                reply["conflicts"] = exc.paths
        elif isinstance(exc, HTTPError):
            reply = {
                "error": HTTP_KINDS.get(status_code, "error"),
                "message": _http_message(exc),
            }
            if isinstance(exc, RangeNotSatisfiable):
                self.set_header("Content-Range", f"bytes */{exc.size}")
        else:
            reply = {"error": "internal", "message": "the server failed; see its log."}
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """A refused request is one warning line; only real failures get a traceback."""
        if isinstance(value, AssetHubError) and value.http_status < 500:
            log.warning("%d %s: %s", value.http_status, self._request_summary(), value)
            return
        super().log_exception(typ, value, tb)


def encode_json(answer: dict[str, Any]) -> bytes:
    """``answer`` as UTF-8 JSON, for the pages a panel pages through (log, tree, diff).

    orjson, not the standard library: a log page of 100 commits took 0.40 ms to encode
    with ``json.dumps`` against 0.05 ms, on a request that should cost about 1 ms in all
    (jupyter-server serves one request at a time, so at 32 clients every request waits for
    31 others). A NaN or infinite metric becomes ``null`` (``json.dumps`` wrote ``NaN``,
    which a browser's ``JSON.parse`` refuses); an integer beyond 64 bits, which orjson
    refuses, falls back to the standard library (NaN as null there too). ``</`` is
    escaped as tornado does, so a body is safe inside an HTML ``<script>`` too; the body is
    searched for ``<`` first (one byte is found by ``memchr``, in well under a microsecond,
    where looking for the two bytes of ``</`` took 35 us on a log page).
    """
    try:
        body = orjson.dumps(answer)
    except orjson.JSONEncodeError:
        body = _encode_rare(answer)
    return body.replace(b"</", b"<\\/") if b"<" in body else body


def _encode_rare(answer: dict[str, Any]) -> bytes:
    """What orjson refuses by default: keys that are not strings (allowed by an option that
    costs every page a third more time), integers beyond 64 bits (the standard library)."""
    try:
        return orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(_finite(answer)).encode("utf-8")


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def pinned(ref: str, resolved: Resolved) -> bool:
    """True when ``ref`` names a commit by its full id (not a branch named like one).

    Whatever answers from commit ids alone never changes: clients may keep it
    (``Cache-Control: immutable``).
    """
    return resolved.kind == "commit" and ref.endswith(f":{resolved.commit_id}")


def answer_key(endpoint: str, *parts: object) -> str:
    """A response cache key: the endpoint and what fixes its answer, one per line."""
    return "\n".join(map(str, (endpoint, *parts)))


def _http_message(exc: HTTPError) -> str:
    try:
        message = exc.log_message % exc.args if exc.log_message else ""
    except TypeError:
        message = exc.log_message or ""
    return message or exc.reason or f"the request was refused ({exc.status_code})."

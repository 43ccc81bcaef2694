"""Register the Asset Hub REST handlers with a running jupyter-server.

Every handler subclasses :class:`APIHandler`, is decorated ``@tornado.web.authenticated``
outermost and then ``@authorized``, and names ``auth_resource = AUTH_RESOURCE`` so that
jupyter-server's authorizer decides who may read (GET) or write (POST/PUT/PATCH/DELETE).
The endpoints are described in ``openapi.yaml`` next to this file.
"""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .._version import __version__

AUTH_RESOURCE = "assethub_ext:assets"
API_PREFIX = ("assethub", "api")


class AssetHubHandler(APIHandler):
    """Base class for every Asset Hub handler."""

    auth_resource = AUTH_RESOURCE


class VersionHandler(AssetHubHandler):
    """``GET /assethub/api/version``: the server's Asset Hub version, for the panel's handshake."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish({"version": __version__})


def api_handlers() -> list[tuple[str, type[AssetHubHandler]]]:
    """The (path below ``/assethub/api/``, handler class) pairs this extension serves."""
    return [("version", VersionHandler)]


def load_jupyter_server_extension(server_app: Any) -> None:
    """Add the Asset Hub handlers to ``server_app``'s tornado application."""
    web_app = server_app.web_app
    base_url = web_app.settings["base_url"]
    handlers = [
        (url_path_join(base_url, *API_PREFIX, path), handler) for path, handler in api_handlers()
    ]
    web_app.add_handlers(".*$", handlers)
    server_app.log.info(
        "Asset Hub %s: API at %s", __version__, url_path_join(base_url, *API_PREFIX)
    )

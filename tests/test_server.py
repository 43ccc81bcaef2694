"""The jupyter-server extension, against a real server (pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from assethub_ext import __version__
from assethub_ext.server import extension

pytest_plugins = ("pytest_jupyter.jupyter_server",)

Fetch = Callable[..., Awaitable[Any]]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"assethub_ext": True}}}


async def test_version_handshake(jp_fetch: Fetch) -> None:
    response = await jp_fetch("assethub", "api", "version")
    assert response.code == 200
    assert json.loads(response.body) == {"version": __version__}


async def test_requests_without_a_token_are_refused(jp_fetch: Fetch) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("assethub", "api", "version", headers={"Authorization": ""})
    assert refused.value.code == 403


def test_every_handler_method_is_authenticated_and_authorized() -> None:
    """A new handler that forgets either decorator fails here, before it ships."""
    for _, handler in extension.api_handlers():
        assert handler.auth_resource == "assethub_ext:assets"
        for verb in ("get", "post", "put", "patch", "delete"):
            method = handler.__dict__.get(verb)
            if method is None:
                continue
            source = inspect.getsource(method)
            assert "@tornado.web.authenticated" in source and "@authorized" in source, (
                handler,
                verb,
            )
            lines = [line.strip() for line in source.splitlines() if line.strip().startswith("@")]
            assert lines[0] == "@tornado.web.authenticated", "authenticated must be outermost"

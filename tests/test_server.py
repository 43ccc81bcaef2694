"""The jupyter-server extension, against a real server (pytest-jupyter's ``jp_fetch``).

Who is signed in comes from a test-only identity provider that still demands the server's
token and then takes the user name from an ``X-Test-User`` header, so that one server can
be called by several users, as a JupyterHub deployment would.
"""

from __future__ import annotations

import gc
import inspect
import json
import subprocess
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from conftest import write_files
from jupyter_core.utils import ensure_async
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from assethub_ext import Hub, __version__
from assethub_ext.core.paging import encode_cursor
from assethub_ext.core.pins import PinFile, lock_path_for
from assethub_ext.server import extension

pytest_plugins = ("pytest_jupyter.jupyter_server",)

Fetch = Callable[..., Awaitable[Any]]
DS = "alice/dataset/cv/digits"
M = "alice/model/cls/net"
SPEC = Path(extension.__file__).with_name("openapi.yaml")


class HeaderIdentityProvider(PasswordIdentityProvider):
    """The token is still required; the user is whoever ``X-Test-User`` names (tests only).

    Built on jupyter-server's default provider, whose login form takes the token as a
    password, so that a test can also sign in with a cookie.
    """

    async def get_user(self, handler: Any) -> User | None:
        user = await ensure_async(super().get_user(handler))
        name = handler.request.headers.get("X-Test-User")
        return User(username=name) if user is not None and name else user


@pytest.fixture
def jp_server_config(hub_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in ("ASSETHUB_DB", "ASSETHUB_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSETHUB_HOME", str(hub_home))
    monkeypatch.setenv("ASSETHUB_USER", "alice")
    return {
        "ServerApp": {
            "jpserver_extensions": {"assethub_ext": True},
            "identity_provider_class": HeaderIdentityProvider,
        }
    }


Call = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def call(jp_fetch: Fetch) -> Call:
    """``await call("GET", "log", user="bob", ref=...)``: any status, JSON bodies as dicts."""

    async def send(
        method: str,
        endpoint: str,
        *,
        user: str = "alice",
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: list[tuple[str, Any]] | None = None,
        **params: Any,
    ) -> HTTPResponse:
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        if data is None and method in ("POST", "PUT"):
            data = b""
        response: HTTPResponse = await jp_fetch(
            "assethub",
            "api",
            endpoint,
            method=method,
            body=data,
            params=query or params,
            headers={"X-Test-User": user, **(headers or {})},
            raise_error=False,
            allow_nonstandard_methods=True,
        )
        return response

    return send


def ok(response: HTTPResponse, status: int = 200) -> Any:
    assert response.code == status, response.body
    return json.loads(response.body)


def refused(response: HTTPResponse, status: int, kind: str | None = None) -> str:
    """The response is a JSON error of that status (and kind); returns its message."""
    assert response.code == status, response.body
    body = json.loads(response.body)
    assert set(body) - {"conflicts"} == {"error", "message"}, body
    assert kind is None or body["error"] == kind, body
    assert body["message"] and "Traceback" not in body["message"]
    return str(body["message"])


@pytest.fixture
def filled(make_hub: Callable[..., Hub], tmp_path: Path) -> dict[str, str]:
    """alice's dataset with v1, v2 (derived) and a draft, and a model with a branch."""
    alice = make_hub("alice")
    alice.create(DS, description="handwritten digits")
    alice.add(DS, [str(write_files(tmp_path / "in1" / "data", {"a.csv": "1,2\n", "b.txt": "b"}))])
    v1 = alice.publish(DS, "first").commit_id
    alice.add(DS, [str(write_files(tmp_path / "in2" / "data", {"a.csv": "3,4\n", "b.txt": "b"}))])
    v2 = alice.publish(DS).commit_id
    alice.create(M)
    first = alice.commit(
        f"{M}:main",
        str(write_files(tmp_path / "w1", {"w.bin": "1", "cfg.json": "{}"})),
        params={"lr": 0.1},
        metrics={"acc": 0.5},
        inputs=[f"{DS}:v1"],
    ).id
    alice.branch_create(f"{M}:main", "exp")
    second = alice.commit(
        f"{M}:exp", str(write_files(tmp_path / "w2", {"w.bin": "2", "cfg.json": "{}"}))
    ).id
    return {"v1": v1, "v2": v2, "first": first, "second": second}


# -- the contract: decorators and the OpenAPI file --------------------------------------------


async def test_version_handshake(call: Call) -> None:
    assert ok(await call("GET", "version")) == {"version": __version__}


async def test_requests_without_a_token_are_refused(call: Call) -> None:
    refused(await call("GET", "version", headers={"Authorization": ""}), 403, "forbidden")
    refused(await call("POST", "tags", headers={"Authorization": ""}, body={}), 403, "forbidden")


def test_every_handler_method_is_authenticated_and_authorized() -> None:
    """A new handler that forgets either decorator fails here, before it ships."""
    for _, handler in extension.api_handlers():
        assert handler.auth_resource == "assethub_ext:assets"
        for verb in ("get", "head", "post", "put", "patch", "delete"):
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


def test_openapi_describes_exactly_the_handlers() -> None:
    """Every route and method served is in openapi.yaml, and nothing else is."""
    spec = yaml.safe_load(SPEC.read_text())
    served = {
        (f"/{path}", verb)
        for path, handler in extension.api_handlers()
        for verb in ("get", "head", "post", "put", "patch", "delete")
        if verb in handler.__dict__
    }
    described = {(path, verb) for path, item in spec["paths"].items() for verb in item}
    assert served == described
    for path, item in spec["paths"].items():
        for verb, operation in item.items():
            assert operation["operationId"] and operation["responses"], (path, verb)


def test_openapi_file_is_a_valid_openapi_document() -> None:
    from openapi_spec_validator import validate

    validate(yaml.safe_load(SPEC.read_text()))


async def test_the_hub_is_closed_when_the_server_stops(
    call: Call, filled: dict[str, str], jp_serverapp: Any
) -> None:
    assert ok(await call("GET", "log", ref=DS))["commits"]
    settings = jp_serverapp.web_app.settings
    hub = settings["assethub_hub"]
    assert "meta" in vars(hub), "the request did not open the hub's database"
    await jp_serverapp.cleanup_extensions()
    assert "assethub_hub" not in settings and "meta" not in vars(hub) and "objects" not in vars(hub)


# -- reading --------------------------------------------------------------------------------


async def test_folders_assets_and_describe(call: Call, filled: dict[str, str]) -> None:
    folders = ok(await call("GET", "folders"))["folders"]
    assert [f["path"] for f in folders] == ["alice/dataset/cv", "alice/model/cls"]
    assert (
        ok(await call("GET", "folders", owner="alice", type="model"))["folders"][0]["assets"] == 1
    )
    refused(await call("GET", "folders", type="model"), 400, "invalid")
    page = ok(await call("GET", "assets", limit="1"))
    assert [a["path"] for a in page["assets"]] == [DS] and page["next"]
    rest = ok(await call("GET", "assets", limit="1", cursor=page["next"]))
    assert [a["path"] for a in rest["assets"]] == [M]
    assert [a["path"] for a in ok(await call("GET", "assets", q="digits"))["assets"]] == [DS]
    assert ok(await call("GET", "assets", type="model", owner="alice"))["assets"][0][
        "branches"
    ] == [
        "exp",
        "main",
    ]
    info = ok(await call("GET", "asset", path=DS))
    assert info["description"] == "handwritten digits" and info["draft"]["base_version"] == "v2"
    refs = ok(await call("GET", "refs", path=DS))
    by_name = {r["name"]: r for r in refs["refs"]}
    assert by_name["v2"]["derived_from"] == "v1" and by_name["v1"]["published"]
    assert by_name["main"]["commit"] == filled["v2"]


async def test_log_is_paged_by_cursor(call: Call, filled: dict[str, str]) -> None:
    first = ok(await call("GET", "log", ref=f"{DS}:main", limit="1"))
    assert [c["id"] for c in first["commits"]] == [filled["v2"]]
    second = ok(await call("GET", "log", ref=DS, limit="1", cursor=first["next"]))
    assert [c["id"] for c in second["commits"]] == [filled["v1"]] and second["next"] is None
    model_log = ok(await call("GET", "log", ref=f"{M}:exp"))["commits"]
    assert [c["id"] for c in model_log] == [filled["second"], filled["first"]]
    assert model_log[1]["params"] == {"lr": 0.1} and model_log[1]["metrics"] == {"acc": 0.5}
    for cursor in ("%%%", encode_cursor("l", filled["first"]), encode_cursor("t", "x")):
        refused(await call("GET", "log", ref=DS, cursor=cursor), 400, "invalid")
    for limit in ("0", "1001", "-1", "1e3", "ten", "99999999999999999999"):
        refused(await call("GET", "log", ref=DS, limit=limit), 400, "invalid")


async def test_a_nan_metric_is_served_as_null_in_valid_json(
    call: Call, filled: dict[str, str], make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    nan = make_hub("alice").commit(
        f"{M}:main",
        str(write_files(tmp_path / "w-nan", {"w.bin": "n"})),
        metrics={"loss": float("nan"), "acc": float("inf"), "n": 2**70},
    )
    for _ in range(2):  # made, then kept
        response = await call("GET", "log", ref=f"{M}:main", limit="1")
        body = json.loads(response.body, parse_constant=lambda name: pytest.fail(name))
        assert body["commits"][0]["id"] == nan.id
        assert body["commits"][0]["metrics"] == {"loss": None, "acc": None, "n": 2**70}


async def test_startup_objects_are_frozen_and_what_is_kept_later_still_follows_changes(
    call: Call,
    filled: dict[str, str],
    jp_serverapp: Any,
    make_hub: Callable[..., Hub],
    tmp_path: Path,
) -> None:
    """Full garbage collections skip what the server built at startup (a collection puts
    every other survivor in the oldest generation); answers kept after that still follow
    a branch that moves."""
    before = ok(await call("GET", "log", ref=f"{M}:exp", limit="1"))["commits"][0]["id"]
    gc.collect()
    app = jp_serverapp.web_app
    assert gc.is_tracked(app) and all(o is not app for o in gc.get_objects(generation=2))
    moved = make_hub("alice").commit(f"{M}:exp", str(write_files(tmp_path / "w4", {"w.bin": "4"})))
    after = ok(await call("GET", "log", ref=f"{M}:exp", limit="1"))["commits"][0]["id"]
    assert (before, after) == (filled["second"], moved.id)


async def test_commit_tree_diff_and_lineage(call: Call, filled: dict[str, str]) -> None:
    detail = ok(await call("GET", "commit", ref=f"{M}:main"))
    assert detail["commit"]["id"] == filled["first"] and detail["files"] == 2
    assert detail["commit"]["lineage"]["inputs"][0]["commit"] == filled["v1"]
    tree = ok(await call("GET", "tree", ref=f"{M}:main", limit="1"))
    assert [f["path"] for f in tree["files"]] == ["cfg.json"] and tree["total"] == 2
    rest = ok(await call("GET", "tree", ref=f"{M}:main", limit="1", cursor=tree["next"]))
    assert [f["path"] for f in rest["files"]] == ["w.bin"] and rest["next"] is None
    inside = ok(await call("GET", "tree", ref=f"{DS}:v1", prefix="data"))
    assert [f["path"] for f in inside["files"]] == ["data/a.csv", "data/b.txt"]
    diff = ok(await call("GET", "diff", a=f"{M}:main", b=f"{M}:exp"))
    assert [(c["path"], c["status"]) for c in diff["changes"]] == [("w.bin", "changed")]
    assert diff["params"] == {"lr": [0.1, None]}
    graph = ok(await call("GET", "lineage", ref=f"{DS}:v1", direction="down", depth="2"))
    assert {(e["from"], e["to"], e["kind"]) for e in graph["edges"]} >= {
        (filled["v1"], filled["first"], "input"),
        (filled["v1"], filled["v2"], "parent"),
    }
    assert {n["id"] for n in graph["nodes"]} >= {filled["v1"], filled["first"], filled["v2"]}
    up = ok(await call("GET", "lineage", ref=f"{M}:exp", depth="1"))
    assert {e["from"] for e in up["edges"]} == {filled["first"]}
    refused(await call("GET", "lineage", ref=M, direction="sideways"), 400)
    refused(await call("GET", "lineage", ref=M, depth="51"), 400)
    for prefix in ("../data", "/data", "data/../../x"):
        refused(await call("GET", "tree", ref=DS, prefix=prefix), 400, "invalid")


async def test_file_download_streams_with_type_length_and_ranges(
    call: Call, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    alice = make_hub("alice")
    alice.create(M)
    big = bytes(range(256)) * 8192  # 2 MiB, stored as a loose object
    alice.commit(f"{M}:main", str(write_files(tmp_path / "w", {"t/a.csv": "x,y\n", "big": big})))
    whole = await call("GET", "file", ref=M, path="t/a.csv")
    assert whole.code == 200 and whole.body == b"x,y\n"
    assert whole.headers["Content-Type"] == "text/csv"
    assert whole.headers["Content-Length"] == "4" and whole.headers["Accept-Ranges"] == "bytes"
    full = await call("GET", "file", ref=M, path="big")
    assert full.body == big and full.headers["Content-Type"] == "application/octet-stream"
    part = await call("GET", "file", ref=M, path="big", headers={"Range": "bytes=1048570-1048579"})
    assert part.code == 206 and part.body == big[1048570:1048580]
    assert part.headers["Content-Range"] == f"bytes 1048570-1048579/{len(big)}"
    tail = await call("GET", "file", ref=M, path="big", headers={"Range": "bytes=-5"})
    assert tail.code == 206 and tail.body == big[-5:]
    opened = await call("GET", "file", ref=M, path="big", headers={"Range": "bytes=2097150-"})
    assert opened.body == big[-2:]
    ignored = await call("GET", "file", ref=M, path="t/a.csv", headers={"Range": "bytes=0-1,3-4"})
    assert ignored.code == 200 and ignored.body == b"x,y\n"
    beyond = await call("GET", "file", ref=M, path="big", headers={"Range": "bytes=9999999-"})
    refused(beyond, 416, "range")
    assert beyond.headers["Content-Range"] == f"bytes */{len(big)}"
    refused(await call("GET", "file", ref=M, path="t/nope"), 404, "not_found")
    for hostile in ("../t/a.csv", "/etc/passwd", "t/../../x", "t\\a.csv", "t/a.csv\x00"):
        refused(await call("GET", "file", ref=M, path=hostile), 400, "invalid")


async def test_file_head_gives_the_headers_without_the_bytes(
    call: Call, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    alice = make_hub("alice")
    alice.create(M)
    alice.commit(f"{M}:main", str(write_files(tmp_path / "w", {"t/a.csv": "x,y\n"})))
    got = await call("GET", "file", ref=M, path="t/a.csv")
    head = await call("HEAD", "file", ref=M, path="t/a.csv")
    assert head.code == 200 and head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Accept-Ranges", "Content-Disposition"):
        assert head.headers[name] == got.headers[name], name
    part = await call("HEAD", "file", ref=M, path="t/a.csv", headers={"Range": "bytes=1-2"})
    assert part.code == 206 and part.headers["Content-Range"] == "bytes 1-2/4"
    assert part.headers["Content-Length"] == "2" and part.body == b""
    assert (await call("HEAD", "file", ref=M, path="t/nope")).code == 404
    assert (await call("HEAD", "file", ref=M, path="../x")).code == 400
    assert (await call("HEAD", "file", ref=M, path="t/a.csv", user="bob")).code == 403


async def test_answers_about_full_commit_ids_are_immutable_and_revalidated(
    call: Call, filled: dict[str, str]
) -> None:
    """Cached by URL, but every request still checks the signed-in user's access first."""
    pinned = f"{M}:{filled['first']}"
    for endpoint, params in (
        ("tree", {"ref": pinned}),
        ("diff", {"a": pinned, "b": f"{M}:{filled['second']}"}),
        ("log", {"ref": pinned}),
        ("file", {"ref": pinned, "path": "w.bin"}),
    ):
        first = await call("GET", endpoint, **params)
        again = await call("GET", endpoint, **params)
        assert first.code == again.code == 200 and first.body == again.body, endpoint
        assert again.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        etag = again.headers["ETag"]
        assert etag == first.headers["ETag"] and etag.startswith('"'), endpoint
        same = await call("GET", endpoint, headers={"If-None-Match": etag}, **params)
        assert same.code == 304 and same.body == b"", endpoint
        other = await call("GET", endpoint, headers={"If-None-Match": '"x"'}, **params)
        assert other.code == 200 and other.body == first.body, endpoint
        refused(await call("GET", endpoint, user="bob", **params), 403, "forbidden")
    ok(
        await call(
            "PUT", "grants", body={"folder": "alice/model/cls", "principal": "bob", "level": "read"}
        )
    )
    assert ok(await call("GET", "tree", user="bob", ref=pinned))["commit"] == filled["first"]
    ok(
        await call(
            "PUT", "grants", body={"folder": "alice/model/cls", "principal": "bob", "level": None}
        )
    )
    refused(await call("GET", "tree", user="bob", ref=pinned), 403, "forbidden")


async def test_answers_about_moving_refs_are_not_marked_immutable(
    call: Call, filled: dict[str, str]
) -> None:
    """A branch, a short id, or a branch named like a commit id can name another commit later."""
    ok(await call("POST", "branches", body={"ref": f"{M}:exp", "name": filled["first"]}), 201)
    for ref in (f"{M}:main", f"{M}:{filled['first'][:12]}", f"{M}:{filled['first']}"):
        for endpoint in ("tree", "log"):
            response = await call("GET", endpoint, ref=ref)
            assert response.code == 200 and "immutable" not in response.headers.get(
                "Cache-Control", ""
            ), (endpoint, ref)
    shadowed = ok(await call("GET", "tree", ref=f"{M}:{filled['first']}"))
    assert shadowed["commit"] == filled["second"]
    first = ok(await call("GET", "log", ref=f"{M}:main", limit="1"))
    assert first["commits"][0]["id"] == filled["first"]


async def test_answers_about_a_branch_are_kept_by_its_commit_and_follow_it_when_it_moves(
    call: Call, filled: dict[str, str], make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """A log or tree page asked by branch is kept under the commit the branch names then."""
    pages = {"log": {"ref": f"{M}:exp", "limit": "1"}, "tree": {"ref": f"{M}:exp"}}
    for endpoint, params in pages.items():
        first = await call("GET", endpoint, **params)
        again = await call(
            "GET", endpoint, headers={"If-None-Match": first.headers["ETag"]}, **params
        )
        assert again.code == 304 and "immutable" not in again.headers.get("Cache-Control", "")
    moved = make_hub("alice").commit(
        f"{M}:exp", str(write_files(tmp_path / "w3", {"w.bin": "3", "new.txt": "n"}))
    )
    assert ok(await call("GET", "log", **pages["log"]))["commits"][0]["id"] == moved.id
    tree = ok(await call("GET", "tree", **pages["tree"]))
    assert tree["commit"] == moved.id and [f["path"] for f in tree["files"]] == ["new.txt", "w.bin"]
    refused(await call("GET", "tree", user="bob", **pages["tree"]), 403, "forbidden")
    again = await call(
        "GET", "log", **pages["log"], headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.code == 200


async def test_a_kept_lineage_names_the_refs_of_now_and_checks_access_each_time(
    call: Call, filled: dict[str, str]
) -> None:
    """The walk of a commit is kept; ref names and the caller's access are fresh per request."""
    pinned, query = f"{M}:{filled['first']}", {"direction": "both", "depth": "3"}

    async def refs_by_node(user: str = "alice") -> dict[str, list[str] | None]:
        """Refs by node; None for a node in a folder ``user`` may not read."""
        response = await call("GET", "lineage", user=user, ref=pinned, **query)
        assert "immutable" not in response.headers.get("Cache-Control", "")
        nodes = ok(response)["nodes"]
        assert all(n.get("restricted") != ("refs" in n) for n in nodes)
        return {n["id"]: n.get("refs") for n in nodes}

    before = await refs_by_node()
    assert before[filled["first"]] == ["main"] and before[filled["second"]] == ["exp"]
    assert before == await refs_by_node()
    moved = {"path": M, "source": "exp", "into": "main"}
    assert ok(await call("POST", "merge", body=moved))["kind"] == "fast-forward"
    after = await refs_by_node()
    assert after[filled["first"]] == [] and after[filled["second"]] == ["exp", "main"]
    grant = {"folder": "alice/model/cls", "principal": "bob", "level": "read"}
    ok(await call("PUT", "grants", body=grant))
    as_bob = await refs_by_node("bob")
    assets = {
        n["id"]: n["asset"] for n in ok(await call("GET", "lineage", ref=pinned, **query))["nodes"]
    }
    assert as_bob.keys() == after.keys() == assets.keys()
    for node, refs in as_bob.items():  # bob reads the model folder, not the data it used
        assert refs == (after[node] if assets[node].startswith("alice/model/cls/") else None)
    ok(await call("PUT", "grants", body={**grant, "level": None}))
    refused(await call("GET", "lineage", user="bob", ref=pinned, **query), 403, "forbidden")


async def test_the_servers_kept_lineage_follows_writes_made_outside_it(
    call: Call, filled: dict[str, str], make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """A child commit and a deleted branch, written by another hub (as the CLI or a kernel
    would): the next answer of the server, which keeps the graph, shows them."""
    query = {"ref": f"{M}:{filled['first']}", "direction": "both", "depth": "3"}

    async def refs_by_node() -> dict[str, list[str]]:
        return {n["id"]: n["refs"] for n in ok(await call("GET", "lineage", **query))["nodes"]}

    before = await refs_by_node()
    assert before == await refs_by_node()
    assert before[filled["second"]] == ["exp"] and before[filled["first"]] == ["main"]
    alice = make_hub("alice")
    third = alice.commit(f"{M}:main", str(write_files(tmp_path / "w3", {"w.bin": "3"}))).id
    assert await refs_by_node() == {**before, filled["first"]: [], third: ["main"]}
    alice.branch_delete(M, "exp", force=True)
    assert await refs_by_node() == {
        **before,
        filled["first"]: [],
        third: ["main"],
        filled["second"]: [],
    }


async def test_diff_is_paged_by_cursor(
    call: Call, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    alice = make_hub("alice")
    alice.create(M)
    old = {"a": "1", "b": "1", "c": "1", "d/x": "1", "e": "1"}
    new = {"a": "2", "b": "1", "c0": "1", "d/x": "2", "e": "1", "f": "new"}
    a = alice.commit(f"{M}:main", str(write_files(tmp_path / "a", old)), params={"lr": 1}).id
    b = alice.commit(f"{M}:main", str(write_files(tmp_path / "b", new)), params={"lr": 2}).id
    seen, cursor = [], None
    while True:
        query = {"a": f"{M}:{a}", "b": f"{M}:{b}", "limit": "2"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = ok(await call("GET", "diff", **query))
        assert len(page["changes"]) <= 2 and page["params"] == {"lr": [1, 2]}
        seen += [(c["path"], c["status"]) for c in page["changes"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [
        ("a", "changed"),
        ("c", "removed"),
        ("c0", "added"),
        ("d/x", "changed"),
        ("f", "added"),
    ]
    whole = ok(await call("GET", "diff", a=f"{M}:{a}", b=f"{M}:{b}"))
    assert [(c["path"], c["status"]) for c in whole["changes"]] == seen and whole["next"] is None
    for bad in ("%%%", encode_cursor("t", "a"), encode_cursor("d", "../x")):
        refused(await call("GET", "diff", a=f"{M}:{a}", b=f"{M}:{b}", cursor=bad), 400, "invalid")
    refused(await call("GET", "diff", a=f"{M}:{a}", b=f"{M}:{b}", limit="0"), 400, "invalid")


# -- changing -------------------------------------------------------------------------------


async def test_create_branch_tag_merge_and_delete(call: Call, filled: dict[str, str]) -> None:
    assert ok(await call("POST", "folders", body={"path": "alice/model/new"}), 201)
    created = await call("POST", "assets", body={"path": "alice/model/new/m", "description": "d"})
    assert ok(created, 201) == {"path": "alice/model/new/m"}
    refused(await call("POST", "assets", body={"path": "alice/model/new/m"}), 409, "exists")
    branch = ok(await call("POST", "branches", body={"ref": f"{M}:main", "name": "b2"}), 201)
    assert branch["commit"] == filled["first"]
    names = [b["name"] for b in ok(await call("GET", "branches", path=M))["branches"]]
    assert names == ["b2", "exp", "main"]
    assert ok(await call("POST", "tags", body={"ref": f"{M}:exp", "name": "best"}), 201)
    refused(await call("POST", "tags", body={"ref": f"{M}:main", "name": "best"}), 409, "exists")
    merged = ok(await call("POST", "merge", body={"path": M, "source": "exp"}))
    assert merged["kind"] == "fast-forward" and merged["commit"] == filled["second"]
    deleted = ok(await call("DELETE", "branches", path=M, name="b2"))
    assert deleted == {"name": "b2", "commit": filled["first"]}
    refused(await call("DELETE", "branches", path=M, name="b2"), 404, "not_found")
    assert ok(await call("DELETE", "asset", path="alice/model/new/m")) == {
        "deleted": "alice/model/new/m"
    }
    assert ok(await call("DELETE", "folders", path="alice/model/new"))["deleted"]
    refused(await call("GET", "asset", path="alice/model/new/m"), 404, "not_found")


async def test_merge_conflicts_come_back_as_a_409_list(
    call: Call, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    alice = make_hub("alice")
    alice.create(M)
    alice.commit(f"{M}:main", str(write_files(tmp_path / "a", {"w": "0", "k": "0"})))
    alice.branch_create(f"{M}:main", "exp")
    alice.commit(f"{M}:exp", str(write_files(tmp_path / "b", {"w": "1", "k": "1"})))
    alice.commit(f"{M}:main", str(write_files(tmp_path / "c", {"w": "2", "k": "2"})))
    conflict = await call("POST", "merge", body={"path": M, "source": "exp"})
    refused(conflict, 409, "merge_conflict")
    assert json.loads(conflict.body)["conflicts"] == ["k", "w"]
    resolved = ok(
        await call("POST", "merge", body={"path": M, "source": "exp", "strategy": "ours"})
    )
    assert resolved["kind"] == "merge" and resolved["resolved"] == ["k", "w"]
    refused(await call("POST", "merge", body={"path": M, "source": "exp", "strategy": "x"}), 400)


async def test_publish_derive_and_restore(call: Call, filled: dict[str, str]) -> None:
    refused(await call("POST", "publish", body={"path": DS}), 409, "conflict")
    derived = ok(await call("POST", "derive", body={"path": DS, "from": "v1"}))
    assert derived["changes"] == [{"path": "data/a.csv", "status": "changed"}]
    refused(await call("POST", "publish", body={"path": DS}), 409, "conflict")  # same as v1
    refused(await call("POST", "restore", body={"path": DS, "from": "v1", "files": []}), 400)
    restored = await call(
        "POST", "restore", body={"path": DS, "from": "v2", "files": ["data/a.csv"]}
    )
    assert ok(restored)["changes"] == [{"path": "data/a.csv", "status": "changed"}]
    published = ok(await call("POST", "publish", body={"path": DS, "message": "from v1"}))
    assert published["version"] == "v3" and published["files"] == 2
    refs = ok(await call("GET", "refs", path=DS))["refs"]
    assert {r["name"]: r["derived_from"] for r in refs}["v3"] == "v1"
    for files in ("data/a.csv", [1], ["../x"]):
        refused(await call("POST", "restore", body={"path": DS, "from": "v1", "files": files}), 400)
    refused(await call("POST", "derive", body={"path": DS, "from": "draft"}), 400, "invalid")
    refused(await call("POST", "derive", body={"path": DS, "from": "v9"}), 404, "not_found")


async def test_grants_listed_to_readers_and_changed_by_the_owner(
    call: Call, filled: dict[str, str]
) -> None:
    refused(await call("GET", "grants", user="bob", folder="alice/dataset/cv"), 403, "forbidden")
    after = ok(
        await call(
            "PUT",
            "grants",
            body={"folder": "alice/dataset/cv", "principal": "bob", "level": "read"},
        )
    )
    assert after["grants"] == [{"principal": "bob", "level": "read"}]
    assert (
        ok(await call("GET", "grants", user="bob", folder="alice/dataset/cv"))["owner"] == "alice"
    )
    change = {"folder": "alice/dataset/cv", "principal": "carol", "level": "edit"}
    refused(await call("PUT", "grants", user="bob", body=change), 403, "forbidden")
    revoke = {"folder": "alice/dataset/cv", "principal": "bob", "level": None}
    assert ok(await call("PUT", "grants", body=revoke))["grants"] == []
    refused(await call("PUT", "grants", body={**revoke, "level": "admin"}), 400, "invalid")
    refused(await call("PUT", "grants", body={"folder": "alice/dataset/cv", "principal": "x"}), 400)


# -- permissions over HTTP, for each level --------------------------------------------------


async def test_each_permission_level_over_http(call: Call, filled: dict[str, str]) -> None:
    folder = "alice/dataset/cv"
    edit_calls = [
        ("POST", "publish", {"path": DS}),
        ("POST", "derive", {"path": DS, "from": "v1"}),
        ("POST", "tags", {"ref": f"{DS}:v1", "name": "t"}),
    ]
    for what in ("GET asset", "GET log", "GET file"):
        message = refused(await call(*what.split(), user="bob", path=DS, ref=DS), 403)
        assert "ask its owner 'alice'" in message
    for level in ("read", "run"):
        ok(await call("PUT", "grants", body={"folder": folder, "principal": "bob", "level": level}))
        assert ok(await call("GET", "log", user="bob", ref=DS))["commits"]
        download = await call("GET", "file", user="bob", ref=f"{DS}:v1", path="data/b.txt")
        assert download.code == 200 and download.body == b"b"
        for method, endpoint, body in edit_calls:
            message = refused(await call(method, endpoint, user="bob", body=body), 403, "forbidden")
            assert f"(granted: {level})" in message
    ok(await call("PUT", "grants", body={"folder": folder, "principal": "bob", "level": "edit"}))
    assert ok(await call("POST", "tags", user="bob", body={"ref": f"{DS}:v1", "name": "t"}), 201)
    refused(await call("POST", "folders", user="bob", body={"path": "alice/model/x"}), 403)
    refused(await call("GET", "log", user="../alice", ref=DS), 403, "forbidden")


async def test_changes_with_a_login_cookie_need_the_xsrf_token(
    call: Call, filled: dict[str, str], jp_serverapp: Any, jp_http_port: int, jp_base_url: str
) -> None:
    """Signed in through the server's own login form: reads pass, changes need ``_xsrf``."""
    client = AsyncHTTPClient()
    site = f"http://localhost:{jp_http_port}{jp_base_url}"
    jar: SimpleCookie = SimpleCookie()

    async def send(method: str, path: str, **kwargs: Any) -> HTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items())}
        response: HTTPResponse = await client.fetch(
            site + path,
            method=method,
            headers={**headers, **kwargs.pop("headers", {})},
            follow_redirects=False,
            raise_error=False,
            **kwargs,
        )
        for line in response.headers.get_list("Set-Cookie"):
            jar.load(line)
        return response

    await send("GET", "login")
    xsrf = jar["_xsrf"].value
    form = urlencode({"password": jp_serverapp.identity_provider.token, "_xsrf": xsrf})
    assert (await send("POST", "login", body=form)).code == 302
    assert len(jar) == 2, "the login form set no session cookie"
    as_alice = {"X-Test-User": "alice"}
    reading = await send("GET", f"assethub/api/log?ref={DS}", headers=as_alice)
    assert ok(reading)["commits"]
    change = json.dumps({"ref": f"{DS}:v1", "name": "t1"})
    for forged in ({}, {"X-XSRFToken": "2|00000000|" + "0" * 32 + "|1"}):
        denied = await send("POST", "assethub/api/tags", body=change, headers=as_alice | forged)
        assert "xsrf" in refused(denied, 403, "forbidden").lower()
    with_token = as_alice | {"X-XSRFToken": xsrf}
    assert ok(await send("POST", "assethub/api/tags", body=change, headers=with_token), 201)
    assert "t1" in [r["name"] for r in ok(await call("GET", "refs", path=DS))["refs"]]


# -- hostile and malformed input ------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        "alice/model/cls/../net",
        "alice/model/cls/net:main:x",
        "alice/model/cls/net:..",
        "/etc/passwd",
        "alice/model/cls/net:main\x00",
        "",
        "a" * 5000,
        "alice/model/cls/net:" + "b/" * 200,
    ],
)
async def test_malformed_refs_are_400(call: Call, filled: dict[str, str], ref: str) -> None:
    for endpoint in ("log", "commit", "tree", "lineage"):
        refused(await call("GET", endpoint, ref=ref), 400, "invalid")


async def test_bad_requests_never_get_a_500(call: Call, filled: dict[str, str]) -> None:
    refused(await call("GET", "log"), 400, "invalid")  # no ref
    refused(await call("GET", "log", query=[("ref", M), ("ref", M)]), 400, "invalid")  # twice
    refused(await call("GET", "log", query=[("ref", b"\xff\xfe")]), 400, "invalid")  # not UTF-8
    refused(await call("GET", "log", ref=f"{M}:nope"), 404, "not_found")
    refused(await call("GET", "asset", path="alice/model/cls/none"), 404, "not_found")
    for body in ("not json", "[1, 2]", b"\xff\xfe", "", '{"path": 7}', '{"ref": null}'):
        refused(await call("POST", "tags", body=body), 400, "invalid")
    refused(await call("POST", "derive", body={"path": DS, "from": "v1", "force": "yes"}), 400)
    refused(await call("DELETE", "asset", path="alice/model/cls"), 400, "invalid")
    refused(await call("DELETE", "folders", path=M), 400, "invalid")
    refused(await call("GET", "assets", type="movie"), 400, "invalid")
    refused(await call("GET", "assets", cursor=encode_cursor("a", "../../x")), 400, "invalid")
    refused(await call("GET", "tree", ref=M, cursor="A" * 9000), 400, "invalid")


# -- pins of a notebook ---------------------------------------------------------------------


async def test_pins_of_a_notebook_and_whether_they_are_behind(
    call: Call,
    filled: dict[str, str],
    make_hub: Callable[..., Hub],
    jp_root_dir: Path,
    tmp_path: Path,
) -> None:
    work = jp_root_dir / "work"
    write_files(work, {"train.ipynb": "{}", "other.ipynb": "{}"})
    alice = make_hub("alice")
    with PinFile.editing(lock_path_for("train.ipynb", str(work))) as pins:
        alice.pin(f"{DS}:v2", pins)
        alice.pin(f"{M}:main", pins)
    status = ok(await call("GET", "pins", notebook="work/train.ipynb"))
    by_ref = {p["ref"]: p for p in status["pins"]}
    assert by_ref[f"{DS}:v2"]["commit"] == filled["v2"] and not by_ref[f"{DS}:v2"]["newer"]
    assert not by_ref[f"{M}:main"]["newer"]
    alice.merge(M, "exp")  # main moves on
    alice.add(DS, [str(write_files(tmp_path / "v3" / "data", {"c.csv": "c"}))])
    alice.publish(DS)  # a newer version than the pinned v2
    status = ok(await call("GET", "pins", notebook="work/train.ipynb"))
    by_ref = {p["ref"]: p for p in status["pins"]}
    assert by_ref[f"{M}:main"]["newer"] and by_ref[f"{M}:main"]["current"] == filled["second"]
    assert by_ref[f"{DS}:v2"]["newer"] and by_ref[f"{DS}:v2"]["current"] == filled["v2"]
    assert ok(await call("GET", "pins", notebook="work/other.ipynb"))["pins"] == []
    denied = ok(await call("GET", "pins", user="bob", notebook="work/train.ipynb"))["pins"]
    assert all("ask its owner 'alice'" in p["error"] for p in denied)


async def test_pins_refuse_paths_out_of_the_server_root(
    call: Call, jp_root_dir: Path, tmp_path: Path
) -> None:
    outside = write_files(
        tmp_path / "outside", {"secret.ipynb": "{}", "secret.assethub.lock": "{}"}
    )
    (jp_root_dir / "escape.ipynb").symlink_to(outside / "secret.ipynb")
    (jp_root_dir / "linked").symlink_to(outside, target_is_directory=True)
    write_files(jp_root_dir, {"nb.ipynb": "{}"})
    (jp_root_dir / "nb.assethub.lock").symlink_to(outside / "secret.assethub.lock")
    for hostile in (
        "../outside/secret.ipynb",
        str(outside / "secret.ipynb"),
        "escape.ipynb",
        "linked/secret.ipynb",
        "nb.ipynb",  # its lock file links out
        "a/../../x.ipynb",
        "",
    ):
        refused(await call("GET", "pins", notebook=hostile), 400, "invalid")
    refused(await call("GET", "pins", notebook="missing.ipynb"), 404, "not_found")
    write_files(jp_root_dir, {"bad.ipynb": "{}", "bad.assethub.lock": "not json"})
    refused(await call("GET", "pins", notebook="bad.ipynb"), 400, "invalid")


# -- what the panel polls, shows and hides ----------------------------------------------------


async def test_changes_token_moves_with_any_write_from_anywhere(
    call: Call, filled: dict[str, str], cli: Callable[..., Any], make_hub: Callable[..., Hub]
) -> None:
    first = ok(await call("GET", "changes"))["generation"]
    assert ok(await call("GET", "changes", user="bob"))["generation"] == first  # no change
    seen = {first}
    writes = [
        lambda: cli("tag", f"{M}:main", "from-cli"),  # another process
        lambda: make_hub("alice").branch_create(f"{M}:main", "more"),
        lambda: make_hub("alice").share("alice/model/cls", "bob", "read"),
        lambda: make_hub("alice").branch_delete(M, "more"),
        lambda: make_hub("alice").group_add("team", ["bob"]),  # changes who may read
    ]
    for write in writes:
        done = write()
        assert getattr(done, "returncode", 0) == 0, done
        token = ok(await call("GET", "changes"))["generation"]
        assert token not in seen
        seen.add(token)


async def test_refs_and_describe_report_the_callers_access(
    call: Call, filled: dict[str, str]
) -> None:
    assert ok(await call("GET", "refs", path=M))["access"] == "edit"
    ok(
        await call(
            "PUT", "grants", body={"folder": "alice/model/cls", "principal": "bob", "level": "run"}
        )
    )
    assert ok(await call("GET", "refs", user="bob", path=M))["access"] == "run"
    assert ok(await call("GET", "asset", user="bob", path=M))["access"] == "run"
    refused(await call("GET", "refs", user="carol", path=M), 403, "forbidden")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


async def test_diff_shows_each_sides_code_commit_and_stored_patch(
    call: Call, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = write_files(tmp_path / "code", {"train.py": "lr = 0.1\n"})
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "add", "train.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x")
    head = _git(repo, "rev-parse", "HEAD")
    hub.create(M)
    monkeypatch.chdir(repo)
    hub.commit(f"{M}:main", str(write_files(tmp_path / "w1", {"w": "1"})))
    (repo / "train.py").write_text("lr = 0.3\n")
    hub.branch_create(f"{M}:main", "dirty")
    hub.commit(f"{M}:dirty", str(write_files(tmp_path / "w2", {"w": "2"})))
    monkeypatch.chdir(tmp_path)  # not a git repository
    hub.branch_create(f"{M}:main", "nogit")
    hub.commit(f"{M}:nogit", str(write_files(tmp_path / "w3", {"w": "3"})))
    code = ok(await call("GET", "diff", a=f"{M}:main", b=f"{M}:dirty"))["code"]
    assert code["a"] == {
        "commit": head,
        "remote": None,
        "dirty": False,
        "patch": None,
        "patch_truncated": False,
    }
    assert code["b"]["commit"] == head and code["b"]["dirty"] is True
    assert "-lr = 0.1\n+lr = 0.3" in code["b"]["patch"]
    assert ok(await call("GET", "diff", a=f"{M}:dirty", b=f"{M}:nogit"))["code"]["b"] is None


# -- sweeps -----------------------------------------------------------------------------------

SW = "alice/model/cls/sweepy"


def _checkpoint(
    hub: Hub, where: Path, trial: str, step: int, value: float, *, study: str = "pbt1", **extra: Any
) -> str:
    """A checkpoint commit on ``sweeps/<study>/<trial>`` as the sweep contract lays it down."""
    files = write_files(where / f"{study}-{trial}-{step}", {"model.bin": f"{trial}{step}"})
    meta: dict[str, Any] = {"study": study, "trial": trial, "step": step, "algorithm": "pbt"}
    if study == "pbt1":  # the objective, as proposed for the contract; "other" records none
        meta.update(metric="val_accuracy", direction="maximize")
    meta.update(extra.pop("meta", {"event": "checkpoint"}))
    return hub.commit(
        f"{SW}:sweeps/{study}/{trial}",
        str(files),
        params=extra.pop("params", {"lr": 0.1}),
        metrics={"val_accuracy": value, "loss": 1 - value},
        metadata={"sweep": meta},
        **extra,
    ).id


@pytest.fixture
def sweep(hub: Hub, tmp_path: Path) -> dict[str, str]:
    """Study pbt1: t0000 (steps 1, 2) and t0001 (steps 1, 2, then exploits t0000's step 2)."""
    hub.create(SW)
    hub.commit(f"{SW}:main", str(write_files(tmp_path / "base", {"model.bin": "0"})))
    for trial in ("t0000", "t0001"):
        hub.branch_create(f"{SW}:main", f"sweeps/pbt1/{trial}")
    ids = {
        "a1": _checkpoint(hub, tmp_path, "t0000", 1, 0.5),
        "a2": _checkpoint(hub, tmp_path, "t0000", 2, 0.7),
        "b1": _checkpoint(hub, tmp_path, "t0001", 1, 0.3),
        "b2": _checkpoint(hub, tmp_path, "t0001", 2, 0.4),
    }
    explore = {"lr": {"from": 0.1, "to": 0.12, "how": "perturb"}}
    ids["b3"] = _checkpoint(
        hub,
        tmp_path,
        "t0001",
        3,
        0.72,
        params={"lr": 0.12},
        meta={
            "event": "exploit",
            "source": {"trial": "t0000", "commit": ids["a2"]},
            "explore": explore,
        },
        inputs=[f"{SW}:{ids['a2']}"],
    )
    hub.branch_create(f"{SW}:main", "sweeps/other/t0000")
    _checkpoint(hub, tmp_path, "t0000", 1, 0.1, study="other")
    hub.branch_create(f"{SW}:main", "sweeps/pbt1/t0002")  # started, nothing saved yet
    return ids


async def test_sweep_lists_studies_and_reads_a_study(call: Call, sweep: dict[str, str]) -> None:
    studies = ok(await call("GET", "sweep", path=SW))["studies"]
    assert [(s["study"], s["trials"]) for s in studies] == [("other", 1), ("pbt1", 3)]
    study = ok(await call("GET", "sweep", path=SW, study="pbt1"))
    assert (study["metric"], study["direction"], study["algorithm"]) == (
        "val_accuracy",
        "maximize",
        "pbt",
    )
    assert study["metrics"] == ["loss", "val_accuracy"] and study["truncated"] is False
    assert ok(await call("GET", "sweep", path=SW, study="other"))["metric"] == "loss"  # first
    rows = {t["trial"]: t for t in study["trials"]}
    assert sorted(rows) == ["t0000", "t0001", "t0002"]
    loser = rows["t0001"]
    assert (loser["checkpoints"], loser["exploits"], loser["last_step"]) == (3, 1, 3)
    assert loser["params"] == {"lr": 0.12} and loser["head"] == sweep["b3"]
    assert [(p["step"], p["value"], p["event"]) for p in loser["points"]] == [
        (1, 0.3, "checkpoint"),
        (2, 0.4, "checkpoint"),
        (3, 0.72, "exploit"),
    ]
    assert rows["t0000"]["best"] == {
        "trial": "t0000",
        "commit": sweep["a2"],
        "step": 2,
        "value": 0.7,
    }
    assert rows["t0002"]["checkpoints"] == 0 and rows["t0002"]["best"] is None
    assert study["best"]["commit"] == sweep["b3"]
    assert study["edges"] == [
        {
            "from": sweep["a2"],
            "to": sweep["b3"],
            "from_trial": "t0000",
            "to_trial": "t0001",
            "from_step": 2,
            "step": 3,
        }
    ]
    lowest = ok(
        await call("GET", "sweep", path=SW, study="pbt1", metric="loss", direction="minimize")
    )
    assert lowest["best"]["commit"] == sweep["b3"] and lowest["metric"] == "loss"
    assert {t["trial"]: t["best"]["step"] for t in lowest["trials"] if t["best"]} == {
        "t0000": 2,
        "t0001": 3,
    }


async def test_sweep_ignores_commits_that_are_not_its_checkpoints(
    call: Call, hub: Hub, sweep: dict[str, str], tmp_path: Path
) -> None:
    files = str(write_files(tmp_path / "odd", {"model.bin": "odd"}))
    hub.commit(f"{SW}:sweeps/pbt1/t0000", files, metadata={"sweep": "junk"})
    hub.commit(
        f"{SW}:sweeps/pbt1/t0000",
        files,
        metrics={"val_accuracy": "high"},
        metadata={"sweep": {"study": "pbt1", "trial": "t0000", "step": True, "event": 7}},
    )
    rows = {t["trial"]: t for t in ok(await call("GET", "sweep", path=SW, study="pbt1"))["trials"]}
    odd = next(p for p in rows["t0000"]["points"] if p["step"] is None)
    assert rows["t0000"]["checkpoints"] == 3  # the junk metadata is not a checkpoint
    assert (odd["step"], odd["value"], odd["event"]) == (None, None, "checkpoint")
    assert rows["t0000"]["best"]["commit"] == sweep["a2"]


async def test_sweep_refuses_bad_input_and_strangers(call: Call, sweep: dict[str, str]) -> None:
    for study in ("../x", "", "a/b", "x" * 65, "-lead"):
        refused(await call("GET", "sweep", path=SW, study=study), 400, "invalid")
    refused(await call("GET", "sweep", path=SW, study="pbt1", direction="up"), 400, "invalid")
    assert "sweeps/none/<trial>" in refused(await call("GET", "sweep", path=SW, study="none"), 404)
    refused(await call("GET", "sweep", path="alice/model/cls/../x"), 400, "invalid")
    refused(await call("GET", "sweep", path="alice/model/cls/missing", study="pbt1"), 404)
    refused(await call("GET", "sweep", user="bob", path=SW, study="pbt1"), 403, "forbidden")
    refused(await call("GET", "sweep"), 400, "invalid")


async def test_a_group_grant_over_http(
    call: Call, filled: dict[str, str], make_hub: Callable[..., Hub]
) -> None:
    body = {"folder": "alice/dataset/cv", "principal": "@cv", "level": "read"}
    refused(await call("PUT", "grants", body=body), 404, "not_found")
    make_hub("alice").group_add("cv", ["bob"])
    assert ok(await call("PUT", "grants", body=body))["grants"] == [
        {"principal": "@cv", "level": "read"}
    ]
    assert ok(await call("GET", "log", user="bob", ref=DS))["commits"]
    refused(await call("GET", "log", user="carol", ref=DS), 403, "forbidden")
    refused(await call("PUT", "grants", body={**body, "principal": "@../x"}), 400, "invalid")

"""``%asset browse``: folders → assets → versions in ipywidgets, with a pin button.

The widget is a thin view over ``Hub.ls``, ``Hub.describe`` and ``Hub.log``; pinning goes
through the same ``MagicContext.pin`` as ``%asset pin``, so the lock file and the message
are the same whichever way a person pins.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..core.errors import AssetHubError
from .display import log_view

if TYPE_CHECKING:
    from .magic import MagicContext

LOG_LENGTH = 20


def _ref_options(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Versions newest first, then branches, tags and (for a dataset) the draft."""
    order = {"version": 0, "latest": 1, "branch": 2, "tag": 3}
    refs = sorted(
        (r for r in info["refs"] if r["kind"] in order),
        key=lambda r: (
            order[r["kind"]],
            -int(r["name"][1:]) if r["kind"] == "version" else 0,
            r["name"],
        ),
    )
    options = [(f"{r['name']} ({r['kind']})", r["name"]) for r in refs]
    if info["type"] == "dataset":
        options.append(("draft (snapshotted when pinned)", "draft"))
    return options


class HubBrowser(widgets.VBox):
    """Browse the hub from a cell; ``navigate(path)`` moves, ``pin_button`` pins the chosen ref."""

    def __init__(self, context: MagicContext, path: str = "") -> None:
        self.context = context
        self.path = ""
        self.location = widgets.HTML()
        self.up = widgets.Button(description="Up", icon="arrow-up", layout={"width": "6em"})
        self.listing = widgets.Select(options=[], rows=8, layout={"width": "60%"})
        self.refs = widgets.Dropdown(options=[], description="Ref")
        self.pin_button = widgets.Button(
            description="Pin", icon="thumb-tack", button_style="primary"
        )
        self.details = widgets.HTML()
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self.up.on_click(
            lambda _: self.navigate(self.path.rsplit("/", 1)[0] if "/" in self.path else "")
        )
        self.listing.observe(self._on_select, names="value")
        self.refs.observe(lambda _: self._show_log(), names="value")
        self.pin_button.on_click(lambda _: self.pin())
        super().__init__(
            [
                widgets.HBox([self.up, self.location]),
                self.listing,
                widgets.HBox([self.refs, self.pin_button]),
                self.message,
                self.details,
                self.output,
            ]
        )
        self.navigate(path)

    def navigate(self, path: str) -> None:
        """Show ``path``: the folders under a prefix, a folder's assets, or an asset's refs."""
        try:
            self._navigate(path.strip("/"))
        except AssetHubError as err:
            self.message.value = f"<span>error: {html.escape(str(err))}</span>"

    def _navigate(self, path: str) -> None:
        is_asset = path.count("/") == 3
        entries = [] if is_asset else self.context.hub.ls(path)
        info = self.context.hub.describe(path) if is_asset else None
        self.path = path
        self.location.value = f"<code>{html.escape(path or '(all folders)')}</code>"
        self.message.value = ""
        self.listing.unobserve(self._on_select, names="value")
        self.listing.options = [(_entry_label(e), e["path"]) for e in entries]
        self.listing.value = None
        self.listing.observe(self._on_select, names="value")
        self.listing.layout.display = "none" if is_asset else ""
        self.refs.options = _ref_options(info) if info else []
        self.refs.disabled = self.pin_button.disabled = info is None or not self.refs.options
        self._show_log()

    def _on_select(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.navigate(change["new"])

    def _show_log(self) -> None:
        if self.path.count("/") != 3 or not self.refs.value:
            self.details.value = ""
            return
        ref = f"{self.path}:{self.refs.value}"
        try:
            if self.refs.value == "draft":
                self.details.value = (
                    "<p>The draft: pinning snapshots it, so the pin is reproducible.</p>"
                )
            else:
                self.details.value = log_view(
                    ref, self.context.hub.log(ref, LOG_LENGTH)
                )._repr_html_()
        except AssetHubError as err:
            self.details.value = f"<span>error: {html.escape(str(err))}</span>"

    def pin(self) -> None:
        """Pin the chosen ref into the notebook, exactly as ``%asset pin`` would."""
        if self.pin_button.disabled or not self.refs.value:
            return
        try:
            with self.output:
                pinned = self.context.pin(f"{self.path}:{self.refs.value}")
        except AssetHubError as err:
            self.message.value = f"<span>error: {html.escape(str(err))}</span>"
            return
        self.message.value = f"<span>{html.escape(pinned.summary())}</span>"


def _entry_label(entry: dict[str, Any]) -> str:
    if entry["kind"] == "folder":
        return f"{entry['path']}  ({entry['assets']} assets)"
    latest = entry.get("latest") or ", ".join(entry.get("branches") or []) or "empty"
    return f"{entry['path'].rsplit('/', 1)[1]}  ({entry['type']}: {latest})"

"""Checking a ref out into a folder: the one way files leave the hub for a workspace."""

from __future__ import annotations

from dataclasses import dataclass

from .context import HubContext
from .errors import InvalidInput, no_room_is_an_error
from .gcpause import paused_gc
from .progress import ProgressFactory, no_progress
from .workspace import LINK_MODES, CheckoutReport, LinkMode, materialize


@dataclass(frozen=True)
class Checkout:
    ref: str
    commit_id: str
    dest: str
    report: CheckoutReport


class CheckoutOps(HubContext):
    """Materialising refs into folders (used directly and by pins)."""

    @paused_gc
    def checkout(
        self,
        ref: str,
        dest: str,
        *,
        link: LinkMode = "auto",
        force: bool = False,
        progress: ProgressFactory = no_progress,
    ) -> Checkout:
        """Materialise ``ref`` into ``dest``; a draft is snapshotted first, so use is reproducible."""
        if link not in LINK_MODES:
            raise InvalidInput(f"link mode '{link}' is not one of: {', '.join(LINK_MODES)}.")
        resolved, commit = self.resolve_commit(ref)
        tree = self.load_tree(commit.tree)
        name = f"{resolved.path}:{resolved.ref}"
        marker = {"ref": name, "commit": commit.id, "tree": commit.tree}
        then = "make room and run it again: it goes on from where it stopped."
        with no_room_is_an_error(f"the checkout into '{dest}'", then):
            report = materialize(
                self.objects,
                tree,
                dest,
                old_tree_loader=self.load_tree,
                marker=marker,
                link=link,
                force=force,
                progress=progress,
            )
        return Checkout(name, commit.id, dest, report)

"""The Hub facade: the one entry point for the CLI, the server, the magics and pipelines.

Every operation validates its input, checks folder permissions for the acting user, and
raises an ``AssetHubError`` with one clear sentence when it refuses.
"""

from __future__ import annotations

from typing import Any

from .browse import BrowseOps
from .context import LEVELS, asset_path, folder_path
from .datasets import DatasetOps
from .errors import AlreadyExists, InUse, InvalidInput, NotFound, PermissionDenied
from .groups import GroupOps, check_principal
from .history import HistoryOps
from .maintenance import Maintenance
from .models import ModelOps
from .names import AssetPath, FolderPath, check_segment, parse_path, quote
from .pins import PinOps
from .runs import RunOps
from .studies import StudyOps
from .sync import SyncOps
from .tree import Tree


class Hub(
    SyncOps,
    GroupOps,
    RunOps,
    BrowseOps,
    StudyOps,
    DatasetOps,
    ModelOps,
    HistoryOps,
    Maintenance,
    PinOps,
):
    """A hub: one metadata store and one object store, acted on as ``user``.

    ``Hub()`` opens the hub named by the environment (``ASSETHUB_HOME`` and friends);
    ``Hub(home)`` opens an embedded hub in that folder.
    """

    def init(self) -> str:
        """Create the hub's folders and database, or upgrade its schema; safe to repeat."""
        self.meta  # noqa: B018 - opening migrates the schema
        self.objects  # noqa: B018
        return self.config.home

    # -- folders and assets ----------------------------------------------------------------
    def create(self, path: str, description: str = "") -> str:
        """Create a folder (``owner/type/folder``) or an asset (``owner/type/folder/name``)."""
        target = parse_path(path)
        with self.objects.writer() as writer:
            is_dataset = isinstance(target, AssetPath) and target.type == "dataset"
            empty_tree = self._store_tree(writer, Tree()) if is_dataset else ""
            writer.commit()
            with self.meta.write() as conn:
                folder = self._create_folder(conn, target)
                if isinstance(target, AssetPath):
                    self._authorize(conn, folder, "edit")
                    if self.catalog.asset(conn, folder, target.name) is not None:
                        raise AlreadyExists(f"asset '{target}' already exists.")
                    asset_id = self.catalog.insert_asset(
                        conn, folder, target.name, description, self.user
                    )
                    if is_dataset:
                        self.catalog.insert_draft(conn, asset_id, empty_tree, self.user)
        return str(target)

    def _create_folder(self, conn: Any, target: FolderPath | AssetPath) -> Any:
        """The folder of ``target``, created if missing (only by its owner)."""
        path = target.folder_path if isinstance(target, AssetPath) else target
        row = self.catalog.folder(conn, path.owner, path.type, path.folder)
        if row is not None:
            if isinstance(target, FolderPath):
                raise AlreadyExists(f"folder '{path}' already exists.")
            return row
        if path.owner != self.user:
            raise PermissionDenied(f"only '{path.owner}' can create folders under '{path.owner}/'.")
        self.catalog.insert_folder(conn, path.owner, path.type, path.folder, self.user)
        return self._folder(conn, path)

    def ls(self, prefix: str = "") -> list[dict[str, Any]]:
        """Folders (for a prefix of up to 2 segments) or assets (for a folder path) you may read."""
        parts = prefix.strip("/").split("/") if prefix.strip("/") else []
        if len(parts) >= 3:
            target = parse_path("/".join(parts))
            if isinstance(target, AssetPath):
                return [self.describe(str(target))]
            return self._ls_folder(target)
        owner = check_segment(parts[0], "owner") if parts else None
        type_ = parts[1] if len(parts) > 1 else None
        if type_ is not None and type_ not in ("dataset", "model"):
            raise InvalidInput(f"asset type {quote(type_)} is not valid: use 'dataset' or 'model'.")
        with self.meta.read() as conn:
            rows = [
                f
                for f in self.catalog.list_folders(conn, owner, type_)
                if self.can(conn, f, "read")
            ]
            return [
                {
                    "path": str(folder_path(f)),
                    "kind": "folder",
                    "type": f.type,
                    "owner": f.owner,
                    "assets": len(self.catalog.list_assets(conn, f)),
                }
                for f in rows
            ]

    def describe(self, path: str) -> dict[str, Any]:
        """An asset: its refs (versions, branches, tags) and, for a dataset, its draft."""
        target = parse_path(path)
        if not isinstance(target, AssetPath):
            raise InvalidInput(f"'{path}' is a folder; describe takes owner/type/folder/name.")
        with self.meta.read() as conn:
            asset = self._asset(conn, target)
            return {
                "path": str(target),
                "kind": "asset",
                "type": asset.type,
                "owner": target.owner,
                "description": asset.description,
                "created_at": asset.created_at,
                "created_by": asset.created_by,
                **self._refs_info(conn, asset, target),
            }

    def _ls_folder(self, path: FolderPath) -> list[dict[str, Any]]:
        with self.meta.read() as conn:
            folder = self._folder(conn, path)
            self._authorize(conn, folder, "read")
            return [self._asset_summary(conn, a) for a in self.catalog.list_assets(conn, folder)]

    def delete(self, path: str, *, force: bool = False) -> str:
        """Delete an asset or an empty folder; refused while others depend on it, unless forced."""
        target = parse_path(path)
        with self.meta.write() as conn:
            if isinstance(target, FolderPath):
                folder = self._folder(conn, target)
                if folder.owner != self.user:
                    raise PermissionDenied(f"only '{folder.owner}' can delete folder '{target}'.")
                contents = self.catalog.list_assets(conn, folder)
                if contents and not force:
                    raise InUse(
                        f"folder '{target}' holds {len(contents)} asset(s); delete them first or pass --force."
                    )
                for asset in contents:
                    self._delete_asset(conn, asset, force)
                self.catalog.delete_folder(conn, folder.id)
                return str(target)
            self._delete_asset(conn, self._asset(conn, target, "edit"), force)
        return str(target)

    def _delete_asset(self, conn: Any, asset: Any, force: bool) -> None:
        users = self.catalog.external_consumers(conn, asset.id)
        if users and not force:
            raise InUse(
                f"'{asset_path(asset)}' is an input of {len(users)}+ commit(s) of other assets "
                f"(first {users[0][:12]}); pass --force to delete it anyway."
            )
        self.catalog.delete_asset(conn, asset.id)

    # -- sharing ---------------------------------------------------------------------------
    def share(self, path: str, principal: str, level: str | None) -> dict[str, str]:
        """Grant ``principal`` (a user, ``@group`` or ``*``) read, run or edit on a folder
        (None revokes)."""
        target = parse_path(path)
        if not isinstance(target, FolderPath):
            raise InvalidInput("sharing is per folder: give owner/type/folder.")
        check_principal(principal)
        if level is not None and level not in LEVELS:
            raise InvalidInput(f"permission '{level}' is not one of: read, run, edit.")
        with self.meta.write() as conn:
            folder = self._folder(conn, target)
            if folder.owner != self.user:
                raise PermissionDenied(f"only '{folder.owner}' can share folder '{target}'.")
            group = principal[1:] if principal.startswith("@") else None
            if group and level and self.catalog.group_owner(conn, group) is None:
                raise NotFound(
                    f"group '{group}' does not exist; create it with 'assethub group add'."
                )
            self.catalog.set_grant(conn, folder.id, principal, level)
            return dict(self.catalog.grants_for(conn, folder.id))

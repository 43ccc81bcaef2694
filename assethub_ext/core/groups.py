"""Groups of users, granted access to folders as ``@name``.

Membership lives in the hub's own database (``hub_groups``, ``group_members``), not in the
operating system: a team hub is reached from many machines and by a server whose identity
is not a login, so only a table gives every caller the same answer. A group belongs to the
user who created it; only that owner adds or removes members, or deletes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import HubContext
from .errors import NotFound, PermissionDenied
from .names import check_segment

if TYPE_CHECKING:
    from sqlalchemy import Connection


def check_principal(text: str) -> str:
    """A user name, ``@group`` or ``*`` (everyone), as a grant names it."""
    if text == "*":
        return text
    if text.startswith("@"):
        check_segment(text[1:], "group name")
        return text
    return check_segment(text, "user name")


class GroupOps(HubContext):
    def group_add(self, name: str, members: list[str]) -> dict[str, Any]:
        """Add members to group ``name``, creating it (owned by you) when it is new."""
        check_segment(name, "group name")
        for member in members:
            check_segment(member, "user name")
        with self.meta.write() as conn:
            if self.catalog.group_owner(conn, name) is None:
                self.catalog.insert_group(conn, name, self.user)
            self._own_group(conn, name)
            for member in members:
                self.catalog.set_member(conn, name, member, True)
            return self._group_info(conn, name)

    def group_rm(self, name: str, members: list[str] | None = None) -> dict[str, Any] | None:
        """Remove members from a group; with no members, delete the group and its grants."""
        check_segment(name, "group name")
        for member in members or []:
            check_segment(member, "user name")
        with self.meta.write() as conn:
            self._own_group(conn, name)
            if not members:
                self.catalog.delete_group(conn, name)
                return None
            for member in members:
                self.catalog.set_member(conn, name, member, False)
            return self._group_info(conn, name)

    def group_ls(self) -> list[dict[str, Any]]:
        """Every group with its owner and members (membership is not a secret in a team)."""
        with self.meta.read() as conn:
            groups = self.catalog.list_groups(conn)
        return [
            {"group": name, "owner": owner, "members": members}
            for name, (owner, members) in groups.items()
        ]

    def _own_group(self, conn: Connection, name: str) -> None:
        owner = self.catalog.group_owner(conn, name)
        if owner is None:
            raise NotFound(f"group '{name}' does not exist; create it with 'assethub group add'.")
        if owner != self.user:
            raise PermissionDenied(f"only '{owner}' can change group '{name}'.")

    def _group_info(self, conn: Connection, name: str) -> dict[str, Any]:
        owner, members = self.catalog.list_groups(conn)[name]
        return {"group": name, "owner": owner, "members": members}

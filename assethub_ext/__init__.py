"""Asset Hub: versioned datasets and models for notebooks.

This module stays light on purpose: kernels that only ``%load_ext assethub_ext`` and
scripts that only run ``assethub status`` must not pay for tornado, jupyter-server or
SQLAlchemy. Everything heavy is imported lazily, when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .core.hub import Hub

__all__ = ["Hub", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Hub":
        from .core.hub import Hub

        return Hub
    raise AttributeError(f"module 'assethub_ext' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext assethub_ext``: register the ``%asset`` magic."""
    from .magics import load_ipython_extension as load

    load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "assethub-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Read by jupyter-server only, so the import of the server side is paid there."""
    from .server.extension import AssetHubExtension

    return [{"module": "assethub_ext", "app": AssetHubExtension}]

"""``%asset``: pin, commit and inspect versions from notebook cells.

Loaded with ``%load_ext assethub_ext``. Everything goes through the ``Hub`` facade; this
package only parses the magic's arguments, knows which notebook it runs in, and shows
results as HTML tables and ipywidgets.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from .magic import AssetMagics

    ipython.register_magics(AssetMagics(ipython))

"""Capturing what made a commit: code, caller, environment.

Called on every commit. Cheap by design (a few ``git`` calls and package-version look-ups),
and it never fails a commit: anything it cannot learn is recorded as unknown.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from typing import Any

KEY_PACKAGES = (
    "assethub-ext",
    "numpy",
    "pandas",
    "scikit-learn",
    "paddlepaddle",
    "paddlepaddle-gpu",
    "torch",
    "optuna",
    "papermill",
)


def _git(args: list[str], cwd: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def capture_code(cwd: str, store_patch: Callable[[bytes], str]) -> dict[str, Any] | None:
    """The git commit of the code, its remote, and a stored patch when the tree is dirty."""
    head = _git(["rev-parse", "HEAD"], cwd)
    if head is None:
        return None
    code: dict[str, Any] = {
        "commit": head.strip(),
        "root": (_git(["rev-parse", "--show-toplevel"], cwd) or "").strip(),
    }
    remotes = (_git(["remote"], cwd) or "").split()
    if remotes:
        remote = "origin" if "origin" in remotes else remotes[0]
        code["remote"] = (_git(["remote", "get-url", remote], cwd) or "").strip()
    status = _git(["status", "--porcelain", "--untracked-files=all"], cwd) or ""
    code["dirty"] = bool(status.strip())
    if code["dirty"]:
        try:
            patch = subprocess.run(
                ["git", "diff", "HEAD", "--binary"],
                cwd=cwd,
                capture_output=True,
                timeout=60,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            patch = b""
        if patch:
            code["patch"] = store_patch(patch)
        code["untracked"] = [line[3:] for line in status.splitlines() if line.startswith("??")][
            :1000
        ]
    return code


def capture_caller() -> dict[str, Any]:
    """The notebook or script that is committing."""
    notebook = os.environ.get("ASSETHUB_NOTEBOOK") or os.environ.get("JPY_SESSION_NAME")
    if notebook:
        return {"kind": "notebook", "path": notebook}
    script = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return {
        "kind": "script",
        "path": os.path.abspath(script) if script else "",
        "argv": sys.argv[1:20],
    }


def capture_environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": dict(_package_versions(_path_stamp())),
    }


def _path_stamp() -> tuple[tuple[str, int], ...]:
    """The folders on ``sys.path`` with their modification times: installing or removing a
    package (``%pip install`` in a running kernel, say) changes its folder's."""
    stamp = []
    for folder in sys.path:
        if not folder:  # the working directory: trials write into it, packages are not there
            continue
        try:
            stamp.append((folder, os.stat(folder).st_mtime_ns))
        except OSError:
            continue
    return tuple(stamp)


@functools.lru_cache(maxsize=1)
def _package_versions(stamp: tuple[tuple[str, int], ...]) -> tuple[tuple[str, str], ...]:
    """The key packages' versions, looked up again only when ``sys.path`` changed: each
    look-up scans every folder on the path (tens of ms), and a sweep commits at every step."""
    from importlib import metadata

    packages = []
    for name in KEY_PACKAGES:
        try:
            packages.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(packages)


def capture(
    inputs: list[dict[str, str]],
    params: dict[str, Any],
    store_patch: Callable[[bytes], str],
    extra: dict[str, Any] | None = None,
    cwd: str | None = None,
) -> dict[str, Any]:
    """What made a commit; a caller that already knows the code (``extra["code"]``, captured
    once for many commits, as a sweep worker does) saves the ``git`` calls."""
    known_code = extra is not None and "code" in extra
    lineage: dict[str, Any] = {
        "inputs": inputs,
        "code": None if known_code else capture_code(cwd or os.getcwd(), store_patch),
        "caller": capture_caller(),
        "params": params,
        "environment": capture_environment(),
        "run_id": os.environ.get("ASSETHUB_RUN_ID"),
    }
    if extra:
        lineage.update(extra)
    return lineage

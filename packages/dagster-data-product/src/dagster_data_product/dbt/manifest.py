"""The manifest Dagster builds a product's dbt assets from, parsed when it is missing or stale.

The manifest lives in the dbt project's `target/` folder, which git ignores: preparing it
is the one thing a load writes, and only there.
"""

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from ..settings import Product
from .process import run_dbt

# What `dbt parse` reads: when any of it is newer than the manifest, the manifest is stale.
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
_SOURCE_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCE_FILES:
        path = project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for name in _SOURCE_FOLDERS:
        folder = project_dir / name
        # The folder itself too: removing one of its direct entries changes only its time.
        for path in [folder, *folder.rglob("*")] if folder.exists() else []:
            newest = max(newest, path.stat().st_mtime)
    return newest


def _parse(product: Product, project: DbtProject) -> None:
    """Install the project's packages if it declares any, then write its manifest.

    dbt runs in this process (`process.run_dbt`): dagster-dbt has imported dbt already,
    so this skips what a `dbt` subprocess costs, a second interpreter importing dbt plus
    the `dbt --version` probe and adapter set-up that dagster-dbt's preparer adds. That was
    about 7 s of a fresh product's first load.
    """
    folder = project.project_dir
    if any((folder / name).exists() for name in ("packages.yml", "dependencies.yml")):
        run_dbt(product, "deps", project_dir=folder)
    run_dbt(product, "parse", "--target-path", str(project.target_path), project_dir=folder)


@contextlib.contextmanager
def _manifest_lock(project: DbtProject) -> Iterator[None]:
    """Let one process at a time prepare or read the project's manifest.

    Runs started together (by the automation sensor, by teammates, by a backfill) each load
    the definitions. Without the lock, several could parse at once, and one could read the
    manifest while another was writing it. Where the platform has no `fcntl` (Windows), no
    lock is taken.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    # In the project's own target folder (which git ignores), wherever the process runs.
    folder = project.manifest_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _prepare_manifest(product: Product, project: DbtProject) -> Path:
    # Upstream pins are checked first: a broken upstream contract, or generated dbt sources
    # that are out of date, stop the load here, before dbt parses them.
    product.upstreams()
    manifest = project.manifest_path
    if (
        not manifest.exists()
        or _newest_source_mtime(project.project_dir) > manifest.stat().st_mtime
        or _parsed_for(manifest) != product.active_engine()
    ):
        _parse(product, project)
    return manifest


def ensure_manifest(product: Product, project: DbtProject | None = None) -> Path:
    """Return the path of an up-to-date manifest, running `dbt parse` only when needed.

    A fresh clone has no manifest and an edited model or a new upstream pin makes it
    stale; either way the manifest is rebuilt here, so `dg dev`, `dg launch` and the tests need no manual
    `dbt parse` first. An unchanged project costs only a scan of file times.
    """
    project = project or DbtProject(project_dir=product.dbt_dir)
    with _manifest_lock(project):
        return _prepare_manifest(product, project)


def _parsed_for(manifest: Path) -> str | None:
    """The engine a manifest was parsed for: switching DBT_TARGET makes it stale."""
    with manifest.open("rb") as file:
        head = file.read(4096).decode("utf-8", errors="replace")
    found = re.search(r'"adapter_type":\s*"([^"]+)"', head)
    return found.group(1) if found else None


_LOADED: dict[tuple[Path, str], dict[str, Any]] = {}


def load_manifest(product: Product) -> dict[str, Any]:
    """The product's parsed manifest, prepared if needed; read once per process and engine."""
    key = (product.dbt_dir, product.active_engine())
    if key not in _LOADED:
        project = DbtProject(project_dir=product.dbt_dir)
        with _manifest_lock(project):
            path = _prepare_manifest(product, project)
            try:
                _LOADED[key] = json.loads(path.read_text())
            except json.JSONDecodeError:
                # Cut short, by a process stopped while dbt wrote it: parse it again.
                _parse(product, project)
                _LOADED[key] = json.loads(path.read_text())
    return _LOADED[key]


def forget_manifests() -> None:
    """Read every manifest again at its next use (after a change within one process)."""
    _LOADED.clear()


def model_relation(manifest: dict[str, Any], model: str) -> tuple[str, str]:
    """(schema, table) of a dbt model as the active target builds it."""
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model:
            return node["schema"], node.get("alias") or node["name"]
    raise KeyError(f"no dbt model named {model!r} in the dbt manifest")

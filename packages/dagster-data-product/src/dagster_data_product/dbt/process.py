"""dbt commands run inside the calling process.

Every part of the package that runs dbt itself (the manifest's parse at load, the docs
site) goes through here: dbt runs from its programmatic entry point, without a second
interpreter importing dbt again. Nothing here imports Dagster. The dbt step of a run has
its own runner (`runner.py`).
"""

import os
import sys
from pathlib import Path
from typing import Any

from ..settings import Product


def release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in the process after a command.

    Left open, it would hold the file's lock until the process ends: another run's step,
    in another process, could not open the warehouse although the pool let it start.
    """
    if "dbt.adapters.duckdb" not in sys.modules:
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()  # the file closes with its last reference


def export_profile_environment(product: Product) -> None:
    """Give the dbt profile absolute locations (see `Product.dbt_environment`)."""
    for name, value in product.dbt_environment().items():
        os.environ.setdefault(name, value)


def _invoke(product: Product, args: list[str], project_dir: Path | None = None) -> Any:
    """Run dbt with `args` in this process against the product's dbt project (or
    `project_dir`); dbt's result. The DuckDB file and the working folder are as before."""
    from dbt.cli.main import dbtRunner

    export_profile_environment(product)
    folder = str(project_dir or product.dbt_dir)
    working_folder = os.getcwd()
    try:
        return dbtRunner().invoke(
            [*args, "--quiet", "--project-dir", folder, "--profiles-dir", folder]
        )
    finally:
        release_duckdb()
        os.chdir(working_folder)


def run_dbt(product: Product, *command: str, project_dir: Path | None = None) -> None:
    """Run a dbt command in this process against the product's dbt project (or `project_dir`).

    Compared with a `dbt` subprocess this saves a second interpreter importing dbt (about
    2.4 s, more than most commands of a small project take). Raises RuntimeError naming the
    command and the folder when dbt reports a failure; dbt's own messages are printed above.
    """
    result = _invoke(product, list(command), project_dir)
    if not result.success:
        raise RuntimeError(
            f"`dbt {' '.join(command)}` failed in {project_dir or product.dbt_dir}: "
            f"{result.exception or 'see the errors above'}"
        )


def test_statuses(product: Product, model: str) -> dict[str, str]:
    """Run the dbt tests of `model` in this process: each one's status (pass, fail, ...).

    The tests read the model as it is in the warehouse of the active target; upstream ports
    are read where the step's dbt build reads them. Tests named alike on other models are
    left out. Raises RuntimeError when dbt cannot run at all.
    """
    from ..contract.upstreams import published_vars

    # The dbt step's target folder: its partial parse spares this command a full parse.
    target = str(product.dbt_dir / "target" / "run")
    result = _invoke(
        product,
        ["test", "--select", model, "--target-path", target, "--log-path", target,
         *published_vars(product.upstreams())],
    )
    if result.exception is not None or result.result is None:
        raise RuntimeError(
            f"`dbt test --select {model}` could not run in {product.dbt_dir}: {result.exception}"
        )
    statuses = {}
    for item in result.result.results:
        node = item.node
        # A generic test names its model; a singular one refs it alone.
        attached = getattr(node, "attached_node", None) or (
            node.depends_on.nodes[0] if len(node.depends_on.nodes) == 1 else None
        )
        if attached is not None and attached.split(".")[-1] == model:
            statuses[node.name] = str(getattr(item.status, "value", item.status))
    return statuses

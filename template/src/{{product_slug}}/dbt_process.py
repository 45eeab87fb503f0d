"""dbt commands run inside the calling process, and what that leaves behind in it.

Every part of the product that runs dbt itself (the manifest's parse at load, the docs
site, the dbt step on a thread) goes through here, because running dbt in a process has
two lasting effects the dbt step must know about: dbt's model parser keeps native state
that a later fork of the process would inherit half-held, and dbt-duckdb keeps the
warehouse file open. Nothing here imports Dagster.
"""

import gc
import os
import sys
from pathlib import Path

from .product import DBT_PROJECT_DIR, dbt_environment

_dbt_ran_here = False


def note_dbt_ran_here() -> None:
    """Record that dbt ran in this process: from now on it must not run in a fork of it."""
    global _dbt_ran_here
    _dbt_ran_here = True


def dbt_ran_here() -> bool:
    """Whether dbt has run in this process (see `note_dbt_ran_here`)."""
    return _dbt_ran_here


def release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in the process after a command.

    Left open, it would hold the file's lock until the process ends: another run's step,
    in another process, could not open the warehouse although the pool let it start.
    """
    if "dbt.adapters.duckdb" not in sys.modules:
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()
    gc.collect()  # the connection closes the file when it is collected


def run_dbt(*command: str, project_dir: Path = DBT_PROJECT_DIR) -> None:
    """Run a dbt command in this process against the dbt project in `project_dir`.

    Compared with a `dbt` subprocess this saves a second interpreter importing dbt (about
    2.4 s, more than most commands of a small project take). Raises RuntimeError naming the
    command and the folder when dbt reports a failure; dbt's own messages are printed above.
    """
    from dbt.cli.main import dbtRunner

    note_dbt_ran_here()
    # The profile's locations, absolute (see product.dbt_environment).
    for name, value in dbt_environment().items():
        os.environ.setdefault(name, value)
    folder = str(project_dir)
    try:
        result = dbtRunner().invoke(
            [*command, "--quiet", "--project-dir", folder, "--profiles-dir", folder]
        )
    finally:
        release_duckdb()
    if not result.success:
        raise RuntimeError(
            f"`dbt {' '.join(command)}` failed in {folder}: "
            f"{result.exception or 'see the errors above'}"
        )

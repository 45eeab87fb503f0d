"""Resources shared by the product's assets, and how its runs execute."""

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from ..product import duckdb_path
from .dbt.project import dbt_project


@dg.definitions
def resources() -> dg.Definitions:
    """The warehouse connection, the dbt CLI, and the in-process executor.

    Every step of a run writes the same DuckDB file, which admits one writer at a time,
    so separate step processes would only wait on each other; running the steps in the
    run's own process removes a process start per step.
    """
    return dg.Definitions(
        resources={
            "duckdb": DuckDBResource(database=str(duckdb_path())),
            "dbt": DbtCliResource(project_dir=dbt_project),
        },
        executor=dg.in_process_executor,
    )

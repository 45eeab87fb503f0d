"""Resources shared by the product's assets, and how its runs execute."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ..product import DBT_PROJECT_DIR
from ..warehouse import Warehouse, connect
from .dbt.runner import EmbeddedDbt


class WarehouseResource(dg.ConfigurableResource):
    """The engine of the active dbt target, for the product's Python steps.

    `engine` overrides the engine chosen by `DBT_TARGET` (dev: DuckDB, prod: the
    `warehouse` answer); leave it empty to follow dbt.
    """

    engine: str | None = None

    @contextmanager
    def connect(self) -> Iterator[Warehouse]:
        with connect(self.engine) as warehouse:
            yield warehouse


@dg.definitions
def resources() -> dg.Definitions:
    """The warehouse, dbt run in-process, and the in-process executor.

    Every step of a run writes the same warehouse, and on DuckDB the same file, which
    admits one writer at a time, so separate step processes would only wait on each
    other; running the steps in the run's own process removes a process start per step
    and lets dbt share the process's warehouse session.
    """
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "dbt": EmbeddedDbt(project_dir=str(DBT_PROJECT_DIR)),
        },
        executor=dg.in_process_executor,
    )

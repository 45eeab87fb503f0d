"""The warehouse resource the product's Python steps open their engine with."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from .settings import Product, product_of
from .warehouse import Warehouse, connect


class WarehouseResource(dg.ConfigurableResource):
    """The engine of the active dbt target, for the product's Python steps.

    `product_root` is the product's folder; `engine` overrides the engine chosen by
    `DBT_TARGET` (dev: DuckDB, prod: the `warehouse` answer); leave it empty to follow dbt.
    """

    product_root: str
    engine: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Before the run's first step: fail the runs whose process died (see recovery.py)."""
        if context.instance is None:
            return
        from .recovery import fail_dead_runs

        current = context.run.run_id if context.run else None
        try:
            recovered = fail_dead_runs(context.instance, current)
        except Exception as error:  # noqa: BLE001 - recovery must never stop a healthy run
            context.log.warning(f"Could not look for runs that died: {error!r}")
            return
        for run_id in recovered:
            context.log.warning(
                f"Run {run_id} had died without ending: marked failed, its pool slots freed."
            )

    @property
    def product(self) -> Product:
        return product_of(self.product_root)

    @contextmanager
    def connect(self) -> Iterator[Warehouse]:
        """Open the warehouse for one step; closed when the block ends."""
        with connect(self.product, self.engine) as warehouse:
            yield warehouse

"""The ingestion asset: loads the source extract into the warehouse's raw schema."""

import dagster as dg

from ...product import DOMAIN, DUCKDB_POOL, OWNERS
from ..automation import source_condition
from ..resources import WarehouseResource
from . import source_data

RAW_SCHEMA = "raw"

RAW_TABLES = {
    "customers": "Customers of the shop as exported by the CRM; email is optional.",
    "products": "The product catalogue with list prices; some products have no category yet.",
    "orders": (
        "Orders as delivered by the shop system: re-sent orders appear more than once and"
        " some rows arrive days late."
    ),
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=[DOMAIN, RAW_SCHEMA, table],
            description=description,
            owners=OWNERS,
            group_name="ingestion",
            kinds={"python", "table"},
            automation_condition=source_condition(),
        )
        for table, description in RAW_TABLES.items()
    ],
    name=f"{DOMAIN}_raw_tables",
    pool=DUCKDB_POOL,
)
def raw_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Replace the raw tables with a fresh extract of the source system."""
    tables = source_data.generate().tables()
    with warehouse.connect() as wh:
        for table in RAW_TABLES:
            # Each table is replaced in one step: a failed load leaves the previous one.
            rows = wh.replace_table(RAW_SCHEMA, table, tables[table])
            context.log.info(f"Loaded {rows} rows into {RAW_SCHEMA}.{table} on {wh.engine}")
            yield dg.MaterializeResult(
                asset_key=[DOMAIN, RAW_SCHEMA, table], metadata={"dagster/row_count": rows}
            )

"""The ingestion asset: loads the source extract into the warehouse's raw schema."""

import dagster as dg
from dagster_data_product import WarehouseResource, asset_lineage, product_of, source_condition

from . import source_data

PRODUCT = product_of(__file__)

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
            key=[PRODUCT.domain, RAW_SCHEMA, table],
            description=description,
            owners=PRODUCT.owners,
            group_name="ingestion",
            kinds={"python", "table"},
            automation_condition=source_condition(PRODUCT),
        )
        for table, description in RAW_TABLES.items()
    ],
    name=f"{PRODUCT.domain}_raw_tables",
    pool=PRODUCT.pool,
)
def raw_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Replace the raw tables with a fresh extract of the source system."""
    # Reports this step's lineage as OpenLineage events: started, then completed or failed.
    with asset_lineage(context, PRODUCT):
        tables = source_data.generate().tables()
        loaded = {}
        with warehouse.connect() as wh:
            for table in RAW_TABLES:
                # Each table is replaced in one step: a failed load leaves the previous one.
                loaded[table] = wh.replace_table(RAW_SCHEMA, table, tables[table])
                context.log.info(
                    f"Loaded {loaded[table]} rows into {RAW_SCHEMA}.{table} on {wh.engine}"
                )
    for table, rows in loaded.items():
        yield dg.MaterializeResult(
            asset_key=[PRODUCT.domain, RAW_SCHEMA, table], metadata={"dagster/row_count": rows}
        )

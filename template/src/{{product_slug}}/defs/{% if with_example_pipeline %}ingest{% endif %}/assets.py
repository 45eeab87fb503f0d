"""The ingestion asset: loads the source extract into the warehouse's raw schema."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ...product import DOMAIN, DUCKDB_POOL, OWNERS
from ..automation import source_condition
from . import source_data

RAW_SCHEMA = "raw"

# Column types of the raw tables, as the source system delivers them.
RAW_TABLES = {
    "customers": (
        "customer_id bigint, full_name varchar, email varchar, country_code varchar,"
        " signed_up_on date",
        "Customers of the shop as exported by the CRM; email is optional.",
    ),
    "products": (
        "product_id bigint, product_name varchar, category varchar, unit_price decimal(10, 2)",
        "The product catalogue with list prices; some products have no category yet.",
    ),
    "orders": (
        "order_id bigint, customer_id bigint, product_id bigint, quantity integer,"
        " status varchar, ordered_at timestamp, coupon_code varchar, _loaded_at timestamp",
        "Orders as delivered by the shop system: re-sent orders appear more than once and"
        " some rows arrive days late.",
    ),
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=[DOMAIN, RAW_SCHEMA, table],
            description=description,
            owners=OWNERS,
            group_name="ingestion",
            kinds={"python", "duckdb"},
            automation_condition=source_condition(),
        )
        for table, (_, description) in RAW_TABLES.items()
    ],
    name=f"{DOMAIN}_raw_tables",
    pool=DUCKDB_POOL,
)
def raw_tables(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
    """Replace the raw tables with a fresh extract of the source system."""
    extract = source_data.generate()
    rows = {"customers": extract.customers, "products": extract.products, "orders": extract.orders}
    with duckdb.get_connection() as conn:
        conn.execute(f"create schema if not exists {RAW_SCHEMA}")
        for table, (columns, _) in RAW_TABLES.items():
            # One transaction per table: a failed load leaves the previous table intact.
            conn.execute("begin transaction")
            conn.execute(f"create or replace table {RAW_SCHEMA}.{table} ({columns})")
            placeholders = ", ".join("?" for _ in rows[table][0])
            conn.executemany(
                f"insert into {RAW_SCHEMA}.{table} values ({placeholders})", rows[table]
            )
            conn.execute("commit")
            context.log.info(f"Loaded {len(rows[table])} rows into {RAW_SCHEMA}.{table}")
            yield dg.MaterializeResult(
                asset_key=[DOMAIN, RAW_SCHEMA, table],
                metadata={"dagster/row_count": len(rows[table])},
            )

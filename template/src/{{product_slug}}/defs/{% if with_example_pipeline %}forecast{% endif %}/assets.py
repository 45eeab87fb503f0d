"""A revenue forecast computed in Python from the orders mart."""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
import pyarrow as pa
from dagster_data_product import (
    WarehouseResource,
    asset_lineage,
    product_of,
    refresh_condition,
    relation,
)

PRODUCT = product_of(__file__)

ANALYTICS_SCHEMA = "analytics"
#: Orders that count as revenue: a placed order is not yet billed, a returned one is refunded.
REVENUE_STATUSES = ("shipped", "completed")
TRAILING_DAYS = 28
HORIZON_DAYS = 7


def forecast_daily_revenue(daily_revenue: dict[date, Decimal], last_day: date) -> Decimal:
    """Mean revenue per day over the `TRAILING_DAYS` ending on `last_day`.

    Days without any order count as zero revenue, so a quiet week lowers the forecast.
    """
    window = (last_day - timedelta(days=offset) for offset in range(TRAILING_DAYS))
    total = sum((daily_revenue.get(day, Decimal(0)) for day in window), Decimal(0))
    return (total / TRAILING_DAYS).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dg.asset(
    key=[PRODUCT.domain, "revenue_forecast"],
    deps=[dg.AssetKey([PRODUCT.domain, "fct_orders"])],
    description=(
        f"Revenue forecast for the {HORIZON_DAYS} days after the last order: the mean daily"
        f" revenue of the trailing {TRAILING_DAYS} days (shipped and completed orders)."
    ),
    owners=PRODUCT.owners,
    group_name="analytics",
    kinds={"python", "table"},
    automation_condition=refresh_condition(PRODUCT),
    pool=PRODUCT.pool,
)
def revenue_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Forecast daily revenue and store one row per forecast day."""
    statuses = ", ".join(f"'{status}'" for status in REVENUE_STATUSES)
    # Reports this step's lineage as OpenLineage events: started, then completed or failed.
    with asset_lineage(context, PRODUCT), warehouse.connect() as wh:
        rows = wh.rows(
            f"select order_date, sum(amount) from {relation(wh, 'marts', 'fct_orders')}"
            f" where status in ({statuses}) group by order_date"
        )
        if not rows:
            raise dg.Failure(
                "marts.fct_orders holds no shipped or completed order to forecast from"
            )
        daily_revenue = {day: Decimal(amount) for day, amount in rows}
        last_day = max(daily_revenue)
        forecast = forecast_daily_revenue(daily_revenue, last_day)
        days = [last_day + timedelta(days=ahead) for ahead in range(1, HORIZON_DAYS + 1)]
        table = pa.table(
            {
                "forecast_date": pa.array(days, pa.date32()),
                "forecast_revenue": pa.array([forecast] * len(days), pa.decimal128(14, 2)),
            }
        )
        wh.replace_table(ANALYTICS_SCHEMA, "revenue_forecast", table)
    context.log.info(f"Forecast {forecast} per day from {last_day + timedelta(days=1)}")
    return dg.MaterializeResult(
        metadata={
            "forecast_daily_revenue": dg.MetadataValue.float(float(forecast)),
            "last_order_date": dg.MetadataValue.text(last_day.isoformat()),
            "dagster/row_count": len(days),
        }
    )

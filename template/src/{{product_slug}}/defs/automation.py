"""Declarative automation: assets refresh when their inputs change, not on a cron chain."""

import dagster as dg


@dg.definitions
def automation() -> dg.Definitions:
    """Evaluate every asset's automation condition, running from the moment the product loads.

    Only the ingestion has a clock (derived from the contract's freshness SLA); everything
    downstream reacts to new data, so the output ports stay within their SLA.
    """
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
            )
        ]
    )

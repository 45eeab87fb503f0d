"""Declarative automation: assets refresh when their inputs change, not on a cron chain."""

import functools

import dagster as dg

from .settings import Product



def refresh_cron(freshness_hours: float) -> str:
    """A cron that runs at least twice per freshness window.

    Two chances per window leave room for one failed or late run without breaking the SLA.
    The interval is the longest divisor of an hour (in minutes) or of a day (in hours) that
    fits twice into the window, so the schedule stays regular across hours and days.
    """
    half_minutes = freshness_hours * 60 / 2
    if half_minutes < 60:
        every = max(
            (m for m in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if m <= half_minutes), default=1
        )
        return f"*/{every} * * * *"
    if freshness_hours >= 48:
        return "0 0 * * *"
    every = max(h for h in (1, 2, 3, 4, 6, 8, 12) if h <= freshness_hours / 2)
    return "0 * * * *" if every == 1 else f"0 */{every} * * *"


# Conditions are immutable, so every asset shares one object: the dbt translator asks for
# one per node, and building a new tree each time was a measurable part of loading a large
# dbt project.
@functools.cache
def _on_cron(freshness_hours: float) -> dg.AutomationCondition:
    return dg.AutomationCondition.on_cron(refresh_cron(freshness_hours))


@functools.cache
def _eager() -> dg.AutomationCondition:
    return dg.AutomationCondition.eager()


def source_condition(product: Product) -> dg.AutomationCondition:
    """For assets that bring data in from outside: the only ones on a clock."""
    return _on_cron(product.contract.freshness_hours)


def refresh_condition(product: Product) -> dg.AutomationCondition:
    """For every asset computed from other assets, as the product's `automation` chose.

    eager: as soon as an input (an upstream product's port included) has new data.
    cron: once per refresh interval, after all inputs have been updated since the last tick.
    """
    if product.automation == "cron":
        return _on_cron(product.contract.freshness_hours)
    return _eager()


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluate every asset's automation condition, running from the moment the product loads."""
    return dg.AutomationConditionSensorDefinition(
        "automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )

"""How dbt nodes become Dagster assets: keys, groups, owners and descriptions."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from ...product import DOMAIN, OWNERS


class ProductTranslator(DagsterDbtTranslator):
    """Maps dbt nodes to stable, domain-prefixed asset keys.

    Keys depend only on the domain and the node's name, never on the dbt target or
    schema, so they stay the same when the product moves to another warehouse.
    A source table `raw.orders` becomes `<domain>/raw/orders`, the key the ingestion
    asset materializes; a model `fct_orders` becomes `<domain>/fct_orders`.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """Return `<domain>/<source>/<table>` for sources and `<domain>/<name>` otherwise."""
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(
                [DOMAIN, dbt_resource_props["source_name"], dbt_resource_props["name"]]
            )
        return dg.AssetKey([DOMAIN, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Group models by their folder under models/ (staging, marts, ...)."""
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        """Every asset of the product belongs to the product's owners."""
        return list(OWNERS)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The dbt description; the node's name when the YAML has none."""
        return dbt_resource_props.get("description") or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )

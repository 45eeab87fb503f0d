"""How dbt nodes become Dagster assets: keys, groups, owners and descriptions."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from ...contract import Contract
from ...product import DOMAIN, OWNERS
from ..automation import refresh_condition


class ProductTranslator(DagsterDbtTranslator):
    """Maps dbt nodes to stable, domain-prefixed asset keys.

    Keys depend only on the domain and the node's name, never on the dbt target or
    schema, so they stay the same when the product moves to another warehouse.
    A source table `raw.orders` becomes `<domain>/raw/orders`, the key the ingestion
    asset materializes; a model `fct_orders` becomes `<domain>/fct_orders`.

    Models refresh declaratively, as soon as what they read has changed; the models behind
    the contract's output ports carry the contract's freshness SLA as their policy.
    """

    def __init__(self, contract: Contract, settings: DagsterDbtTranslatorSettings | None = None):
        super().__init__(settings)
        self._port_models = {port.model for port in contract.ports}
        self._freshness = dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=contract.freshness_hours)
        )

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """The default spec, plus the freshness policy on output-port models."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and props["name"] in self._port_models:
            spec = spec.replace_attributes(freshness_policy=self._freshness)
        return spec

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Rebuild a model once its inputs have new data (see the `automation` answer)."""
        if dbt_resource_props["resource_type"] == "source":
            return None
        return refresh_condition()

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """Return `<domain>/<source>/<table>` for sources and `<domain>/<name>` otherwise.

        A node may name its key in `meta.dagster.asset_key`: the sources generated from
        upstreams.yaml do, to use the upstream product's own key for its published port.
        """
        explicit = (dbt_resource_props.get("meta") or {}).get("dagster", {}).get("asset_key")
        if explicit:
            return dg.AssetKey(explicit)
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(
                [DOMAIN, dbt_resource_props["source_name"], dbt_resource_props["name"]]
            )
        return dg.AssetKey([DOMAIN, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Group models by their folder under models/ (staging, marts, ...)."""
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        """Every asset of the product belongs to its owners; upstream ports to theirs."""
        if (
            dbt_resource_props["resource_type"] == "source"
            and self.get_asset_key(dbt_resource_props).path[0] != DOMAIN
        ):
            return None
        return list(OWNERS)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The dbt description; the node's name when the YAML has none."""
        return dbt_resource_props.get("description") or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )

"""Every dbt model, seed and snapshot as an asset; dbt tests as asset checks."""

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ...contract import product_contract
from ...product import DOMAIN
from .project import dbt_project, load_manifest
from .translator import ProductTranslator

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}


@dg.definitions
def dbt_definitions() -> dg.Definitions:
    """Build the dbt assets from the manifest, or nothing while the project has no model."""
    manifest = load_manifest()
    if not any(node["resource_type"] in _MATERIALIZED_TYPES for node in manifest["nodes"].values()):
        return dg.Definitions()

    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=ProductTranslator(
            product_contract(),
            # Tests on the raw sources become checks on the ingestion asset that lands them.
            settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True),
        ),
        name=f"{DOMAIN}_dbt_models",
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """Run `dbt build` on the selected models: each is tested right after it is built."""
        yield from dbt.cli(["build"], context=context).stream()

    return dg.Definitions(assets=[dbt_models])

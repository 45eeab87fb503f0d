"""Every dbt model, seed and snapshot as an asset; dbt tests as asset checks."""

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, dbt_assets

from ...contract import product_contract
from ...contract.upstreams import product_upstreams
from ...product import DOMAIN, DUCKDB_POOL, active_engine
from .project import dbt_project, load_manifest
from .runner import EmbeddedDbt
from .translator import ProductTranslator


def _require_published_upstreams(context: dg.AssetExecutionContext) -> None:
    """Fail early, and clearly, when a selected model reads an upstream port not yet published."""
    needed = set()
    for key in context.selected_asset_keys:
        needed |= set(context.assets_def.asset_deps.get(key, ()))
    for upstream in product_upstreams():
        for port in upstream.ports:
            key = dg.AssetKey([upstream.contract.domain, "published", port.name])
            if key in needed and not port.published_file.exists():
                raise dg.Failure(
                    f"Upstream port {key.to_user_string()} of {upstream.describe()} is not "
                    f"published yet ({port.published_file} does not exist). Materialize the "
                    f"producer first, e.g. `uv run dg launch --assets '*'` in its product."
                )


_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}


@dg.definitions
def dbt_definitions() -> dg.Definitions:
    """Build the dbt assets from the manifest, or nothing while the project has no model."""
    manifest = load_manifest()
    if not any(node["resource_type"] in _MATERIALIZED_TYPES for node in manifest["nodes"].values()):
        return dg.Definitions()

    translator = ProductTranslator(
        product_contract(),
        # Tests on the raw sources become checks on the ingestion asset that lands them.
        settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True),
    )

    @dbt_assets(
        manifest=manifest,
        project=dbt_project,
        dagster_dbt_translator=translator,
        name=f"{DOMAIN}_dbt_models",
        pool=DUCKDB_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: EmbeddedDbt):
        """Run `dbt build` on the selected models: each is tested right after it is built.

        Each upstream product's published folder reaches dbt's sources as a variable,
        resolved from the upstream's own contract (`contract.upstreams.published_vars`).
        """
        _require_published_upstreams(context)
        if active_engine() == "spark":
            # Start the session dbt's `session` method will share (see warehouse.py).
            from ...warehouse import spark_session

            spark_session()
        yield from dbt.build(context, manifest, translator, dbt_project)

    return dg.Definitions(assets=[dbt_models])

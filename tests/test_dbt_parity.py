"""The product's dbt step and stock dagster-dbt report the same things about the same dbt run.

A default product gets one more dbt test: a singular test with two parents (`fct_orders`
and `dim_customers`) tied to `fct_orders` by `meta.dagster.ref`, which fails with severity
`warn`. The product materializes everything; then stock dagster-dbt (`@dbt_assets` with
`DbtCliResource(...).cli(["build"]).stream()` and its row counts and column metadata)
builds the same project on the same warehouse. Both must report the same assets, the same
checks, the same statuses and the same metadata keys; stock dagster-dbt is given the
product's asset keys (its default keys differ by design).
"""

import json

import pytest
from conftest import git_init, uv

pytestmark = pytest.mark.product

DOMAIN = "sales"

SINGULAR_TEST = """\
-- Fails on purpose, as a warning: every order has a non-negative amount.
{{ config(severity="warn", meta={"dagster": {"ref": {"name": "fct_orders"}}}) }}
select o.order_id
from {{ ref("fct_orders") }} as o
inner join {{ ref("dim_customers") }} as c on o.customer_id = c.customer_id
where o.amount >= 0
"""

# Runs in the product's environment; writes what each side reported to argv[1].
REPORT_SCRIPT = """
import json, sys
from pathlib import Path
import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets,
)
from sales_orders.definitions import defs as product_defs


def report(result, step):
    assets, checks = {}, {}
    for event in result.all_events:
        if event.step_key != step:
            continue
        if event.event_type_value == "ASSET_MATERIALIZATION":
            m = event.step_materialization_data.materialization
            assets["/".join(m.asset_key.path)] = {
                "status": m.metadata["status"].value,
                "metadata": sorted(m.metadata),
            }
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            c = event.event_specific_data
            checks["/".join(c.asset_key.path) + ":" + c.check_name] = {
                "passed": c.passed,
                "severity": c.severity.value,
                "metadata": sorted(c.metadata),
            }
    return {"assets": assets, "checks": checks}


defs = product_defs()
product = dg.materialize(
    [*defs.assets, *defs.asset_checks],
    resources=defs.resources,
    instance=dg.DagsterInstance.ephemeral(),
    raise_on_error=False,
)
(dbt_step,) = {e.step_key for e in product.all_events if e.step_key and "dbt" in e.step_key}

# Stock dagster-dbt with the product's keys: looked up in the product's own specs, and for
# sources the product's rule (<domain>/<source>/<table>, the ingestion asset's key).
keys_by_unique_id = {
    spec.metadata["dagster_dbt/unique_id"]: key
    for asset in defs.assets
    if isinstance(asset, dg.AssetsDefinition)
    for key, spec in asset.specs_by_key.items()
    if "dagster_dbt/unique_id" in spec.metadata
}


class ProductKeys(DagsterDbtTranslator):
    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        key = keys_by_unique_id.get(unique_id)
        if key is None and unique_id.startswith("source."):
            props = manifest["sources"][unique_id]
            key = dg.AssetKey([DOMAIN, props["source_name"], props["name"]])
        return spec.replace_attributes(key=key) if key is not None else spec


DOMAIN = sys.argv[2]
settings = DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)


@dbt_assets(
    manifest=Path("dbt/target/manifest.json"),
    dagster_dbt_translator=ProductKeys(settings=settings),
)
def stock(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream().fetch_column_metadata().fetch_row_counts()


stock_result = dg.materialize(
    [stock],
    resources={"dbt": DbtCliResource(project_dir="dbt")},
    instance=dg.DagsterInstance.ephemeral(),
    raise_on_error=False,
)
json.dump(
    {
        "product": report(product, dbt_step),
        "product_success": product.success,
        "stock": report(stock_result, "stock"),
        "stock_success": stock_result.success,
    },
    open(sys.argv[1], "w"),
    indent=1,
)
"""


@pytest.fixture(scope="module")
def reports(copie_session, tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = copie_session.copy(extra_answers={})
    assert result.exit_code == 0, result.exception
    product = result.project_dir
    tests = product / "dbt" / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "orders_have_known_customers.sql").write_text(SINGULAR_TEST)
    git_init(product)
    uv("sync", cwd=product)
    folder = tmp_path_factory.mktemp("parity")
    script = folder / "report.py"
    script.write_text(REPORT_SCRIPT)
    uv("run", "python", str(script), str(folder / "report.json"), DOMAIN, cwd=product, timeout=1200)
    return json.loads((folder / "report.json").read_text())


def test_both_runs_succeed(reports: dict) -> None:
    assert reports["product_success"] and reports["stock_success"]


def test_same_assets_with_the_same_statuses_and_metadata_keys(reports: dict) -> None:
    product, stock = reports["product"]["assets"], reports["stock"]["assets"]
    assert product, "the product's dbt step materialized nothing"
    assert product == stock
    # Tables carry their row count; every model its columns and column lineage.
    assert "dagster/row_count" in product[f"{DOMAIN}/fct_orders"]["metadata"]
    assert "dagster/column_schema" in product[f"{DOMAIN}/stg_orders"]["metadata"]
    assert "dagster/column_lineage" in product[f"{DOMAIN}/fct_orders"]["metadata"]


def test_same_checks_with_the_same_results(reports: dict) -> None:
    product, stock = reports["product"]["checks"], reports["stock"]["checks"]
    assert product == stock
    # The singular test with two parents is reported on the model its meta names.
    assert product[f"{DOMAIN}/fct_orders:orders_have_known_customers"] == {
        **product[f"{DOMAIN}/fct_orders:orders_have_known_customers"],
        "passed": False,
        "severity": "WARN",
    }
    # dbt's generic tests, the contract's included, with the count of failing rows
    # dagster-dbt adds to each.
    for check in ("unique_stg_orders_order_id", "order_id_is_unique", "quantity_is_positive"):
        model = "stg_orders" if check.startswith("unique_stg") else "fct_orders"
        assert "dagster_dbt/failed_row_count" in product[f"{DOMAIN}/{model}:{check}"]["metadata"]

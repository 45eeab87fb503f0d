"""The same product on two engines: DuckDB (dev) and Apache Spark in local mode (prod).

A product rendered with `warehouse: spark` is materialized twice, unchanged but for
`DBT_TARGET`: once on its DuckDB file, once on Spark through dbt-spark's `session`
method and the product's own Spark session. On both, every dbt test and every contract
check must pass and the ports must be published; the marts must hold the same rows.
"""

import json
from pathlib import Path

import copier
import pytest

from conftest import ROOT, uv

pytestmark = [pytest.mark.product, pytest.mark.nightly]

# Runs in the product's environment: materialize everything, report what it produced.
REPORT_SCRIPT = """
import json, sys
import dagster as dg
from dagster_data_product import product_of
from dagster_data_product.contract.catalog import catalog_path
from dagster_data_product.warehouse import connect, relation
from sales_orders.definitions import defs as product_defs

defs = product_defs()
result = dg.materialize(
    [*defs.assets, *defs.asset_checks],
    resources=defs.resources,
    instance=dg.DagsterInstance.ephemeral(),
    raise_on_error=False,
)
report = {
    "success": result.success,
    "failed_steps": [e.step_key for e in result.get_step_failure_events()],
    "checks": {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    },
    "materialized": sorted(
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
    ),
    "marts": {},
    "published": {},
    # Each published port's column profile, as its publishing step recorded it.
    "profiles": {
        e.asset_key.to_user_string(): {
            key: getattr(value, "value", value)
            for key, value in e.materialization.metadata.items()
            if key.startswith("profile/") or key == "dagster/row_count"
        }
        for e in result.get_asset_materialization_events()
        if "published" in e.asset_key.path
    },
}
product = product_of(".")
contract = product.contract
with connect(product) as wh:
    report["engine"] = wh.engine
    for port in contract.ports:
        columns = ", ".join(wh.quote(column.name) for column in port.columns)
        rows = wh.rows(f"select {columns} from {relation(wh, 'marts', port.model)}")
        report["marts"][port.name] = sorted([str(value) for value in row] for row in rows)
        if wh.engine == "duckdb":
            source = f"read_parquet('{contract.published_file(port)}')"
        else:
            source = relation(wh, "published", port.name)
        report["published"][port.name] = wh.scalar(f"select count(*) from {source}")
# What a consumer reads through the catalog: the dev file, or the Spark table's files.
import intake
catalog = intake.from_yaml_file(str(catalog_path(contract)))
suffix = "" if report["engine"] == "duckdb" else "_prod"
report["catalog"] = {port.name: len(catalog[port.name + suffix].read()) for port in contract.ports}
json.dump(report, open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def spark_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    product = tmp_path_factory.mktemp("spark") / "sales_orders"
    copier.run_copy(
        str(ROOT),
        str(product),
        data={"warehouse": "spark"},
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    uv("sync", cwd=product)
    return product


def test_spark_product_passes_its_own_tests(spark_product: Path) -> None:
    """A product rendered for Spark passes its own suite, as its team's CI runs it: the
    catalog's extra `<port>_prod` entries (the Spark tables) are expected, not failures."""
    completed = uv("run", "pytest", "-p", "no:cacheprovider", "-q", cwd=spark_product,
                   timeout=1800)
    summary = completed.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def _materialize(product: Path, folder: Path, env: dict[str, str]) -> dict:
    folder.mkdir()
    script = folder / "report.py"
    script.write_text(REPORT_SCRIPT)
    uv("run", "python", str(script), str(folder / "report.json"), cwd=product, env=env, timeout=1200)
    return json.loads((folder / "report.json").read_text())


@pytest.fixture(scope="module")
def reports(spark_product: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("engines")
    # Both runs keep the product's default folders (data/), where catalog.yaml looks.
    duckdb_env: dict[str, str] = {}
    spark_env = {
        "DBT_TARGET": "prod",
        # Raw tables are landed by the product's Python step on the active engine; the
        # DuckDB file must not be touched by the Spark run.
        "DUCKDB_PATH": str(root / "unused.duckdb"),
        "PUBLISH_DIR": str(root / "unused-published"),
    }
    return {
        "duckdb": _materialize(spark_product, root / "duckdb", duckdb_env),
        "spark": _materialize(spark_product, root / "spark", spark_env),
        "root": {"path": str(root)},
    }


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_pipeline_runs_and_every_check_passes(reports: dict[str, dict], engine: str) -> None:
    report = reports[engine]
    assert report["engine"] == engine
    assert report["success"], f"failed steps on {engine}: {report['failed_steps']}"
    failed = [name for name, passed in report["checks"].items() if not passed]
    assert not failed, f"checks failed on {engine}: {failed}"
    contract_checks = [name for name in report["checks"] if name.startswith("sales/fct_orders:")]
    # The contract's promises, each one dbt test named after it, ran on Spark as well.
    assert {
        "sales/fct_orders:order_id_is_unique",
        "sales/fct_orders:status_is_known",
        "sales/fct_orders:quantity_is_positive",
        "sales/fct_orders:customer_id_references_customers",
        "sales/fct_orders:orders_row_count",
    } <= set(contract_checks)
    assert {"sales/published/orders", "sales/published/customers"} <= set(report["materialized"])


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_ports_are_published_with_every_row(reports: dict[str, dict], engine: str) -> None:
    report = reports[engine]
    for port, rows in report["marts"].items():
        assert rows, f"{engine}: the mart behind {port} is empty"
        assert report["published"][port] == len(rows)
        assert report["catalog"][port] == len(rows), f"{engine}: catalog entry of {port}"


def test_marts_hold_the_same_rows_on_both_engines(reports: dict[str, dict]) -> None:
    duckdb_marts, spark_marts = reports["duckdb"]["marts"], reports["spark"]["marts"]
    assert duckdb_marts.keys() == spark_marts.keys() == {"orders", "customers"}
    for port in duckdb_marts:
        assert len(duckdb_marts[port]) == len(spark_marts[port])
        assert duckdb_marts[port] == spark_marts[port], f"port {port} differs between engines"


def test_spark_run_leaves_the_duckdb_file_alone(reports: dict[str, dict]) -> None:
    assert not (Path(reports["root"]["path"]) / "unused.duckdb").exists()
    assert not (Path(reports["root"]["path"]) / "unused-published").exists()


def test_ports_are_profiled_alike_on_both_engines(reports: dict[str, dict]) -> None:
    """The profile query runs on Spark too, and the same rows give the same profile."""
    duckdb_profiles, spark_profiles = reports["duckdb"]["profiles"], reports["spark"]["profiles"]
    assert sorted(spark_profiles) == ["sales/published/customers", "sales/published/orders"]
    for port, profile in spark_profiles.items():
        assert profile["dagster/row_count"] > 0, port
        expected = duckdb_profiles[port]
        assert sorted(profile) == sorted(expected), port
        for key, value in expected.items():
            if isinstance(value, float):
                assert profile[key] == pytest.approx(value, rel=1e-6), (port, key)
            else:
                assert profile[key] == value, (port, key)

"""The dbt targets: dev on DuckDB, prod on the `warehouse` engine; and each engine's quoting."""

from pathlib import Path

import pytest

from dagster_data_product.settings import Product, dbt_target
from dagster_data_product.warehouse import DbApiWarehouse


def _product(root: Path) -> Product:
    return Product(
        root=root,
        contract_file=root / "datacontract.yaml",
        upstreams_file=root / "upstreams.yaml",
        dbt_dir=root / "dbt",
    )


def test_dev_is_the_default_target_and_runs_on_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBT_TARGET", raising=False)
    assert dbt_target() == "dev"
    assert _product(Path("/product")).active_engine() == "duckdb"


def test_an_unknown_target_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_TARGET", "production")
    with pytest.raises(ValueError, match="DBT_TARGET must be one of dev, prod, got 'production'"):
        dbt_target()


def test_relative_spark_folders_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_WAREHOUSE_DIR", "data/tables")
    with pytest.raises(ValueError, match="SPARK_WAREHOUSE_DIR must be an absolute path"):
        _product(Path("/product")).spark_paths()


@pytest.mark.parametrize(
    ("engine", "identifier", "quoted"),
    [
        ("duckdb", 'it"s', '"it""s"'),
        ("trino", 'it"s', '"it""s"'),
        ("snowflake", 'it"s', '"it""s"'),
        ("spark", 'it"s', '`it"s`'),
        ("spark", "a`b", "`a``b`"),
        ("bigquery", "a`b", "`a\\`b`"),
    ],
)
def test_identifiers_are_quoted_the_engines_way(engine: str, identifier: str, quoted: str) -> None:
    assert DbApiWarehouse(engine, None).quote(identifier) == quoted

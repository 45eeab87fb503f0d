"""The dbt targets: dev on DuckDB, prod on the `warehouse` engine; and each engine's quoting."""

from pathlib import Path

import pytest

from dagster_data_product.settings import Product, dbt_target
from dagster_data_product.warehouse import PRODUCTION_SERVERS, DbApiWarehouse, production_problems


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
        ("snowflake", 'it"s', '"IT""S"'),
        ("spark", 'it"s', '`it"s`'),
        ("spark", "a`b", "`a``b`"),
        ("bigquery", "a`b", "`a\\`b`"),
    ],
)
def test_identifiers_are_quoted_the_engines_way(engine: str, identifier: str, quoted: str) -> None:
    assert DbApiWarehouse(engine, None).quote(identifier) == quoted


PRODUCTION = {
    "spark": {"type": "hive", "database": "published"},
    "trino": {"type": "trino", "host": "h", "catalog": "c", "schema": "published"},
    "snowflake": {"type": "snowflake", "account": "a", "database": "d", "schema": "PUBLISHED"},
    "bigquery": {"type": "bigquery", "project": "p", "dataset": "published"},
}


def _document(server: dict):
    from open_data_contract_standard.model import OpenDataContractStandard
    from products import contract_document

    document = contract_document("sales", "orders")
    document["servers"].append({"server": "production", "environment": "prod", **server})
    return OpenDataContractStandard.model_validate(document)


@pytest.mark.parametrize("engine", sorted(PRODUCTION))
def test_the_production_server_must_name_where_ports_are_published(engine: str) -> None:
    server = PRODUCTION[engine]
    assert production_problems(_document(server), engine) == []
    kind, field = PRODUCTION_SERVERS[engine]
    assert server["type"] == kind
    (problem,) = production_problems(_document({**server, field: "gold"}), engine)
    assert problem.startswith(f"servers.production.{field}: 'gold', but the product publishes")
    missing = {k: v for k, v in server.items() if k != field}
    (problem,) = production_problems(_document(missing), engine)
    assert problem.startswith(f"servers.production: no {field}")
    # Names fold on every engine but BigQuery, whose dataset names keep their case.
    folded = production_problems(_document({**server, field: "Published"}), engine)
    assert bool(folded) == (engine == "bigquery")


def test_a_production_server_of_another_engine_is_named() -> None:
    (problem,) = production_problems(_document(PRODUCTION["snowflake"]), "trino")
    assert problem.startswith("servers.production.type: 'snowflake', but the prod target runs on trino")
    assert "of type 'trino'" in problem
    # A DuckDB product publishes files; its other servers are its team's own business.
    assert production_problems(_document(PRODUCTION["snowflake"]), "duckdb") == []

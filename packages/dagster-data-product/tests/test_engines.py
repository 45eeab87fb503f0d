"""The contract checks and types on every engine the `prod` target may use.

Only DuckDB (and, in the template's own CI, Spark) run here; for the other engines the
checks' SQL is parsed with each engine's grammar, so a construct one of them lacks fails
here rather than in production.
"""

from pathlib import Path

import duckdb
import pytest
import sqlglot

from dagster_data_product.contract.checks import DIALECTS, engine_type, port_checks
from dagster_data_product.contract.model import Column, Port, QualityRule
from dagster_data_product.settings import Product, dbt_target


def _product(root: Path) -> Product:
    return Product(
        root=root,
        contract_file=root / "datacontract.yaml",
        upstreams_file=root / "upstreams.yaml",
        dbt_dir=root / "dbt",
    )

# sqlglot's names for the engines.
GRAMMARS = {
    "duckdb": "duckdb",
    "spark": "spark",
    "trino": "trino",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}


def _rule(name: str, metric: str | None, column: str | None, **arguments) -> QualityRule:
    return QualityRule(
        name=name,
        kind="library",
        metric=metric,
        query=None,
        arguments=arguments,
        operator="mustBe",
        threshold=0,
        column=column,
        description="",
    )


def _column(name: str, physical_type: str, **flags) -> Column:
    return Column(
        name=name,
        logical_type="string",
        physical_type=physical_type,
        required=flags.get("required", False),
        unique=flags.get("unique", False),
        primary_key=flags.get("primary_key", False),
        primary_key_position=flags.get("position", 1),
        description="",
    )


# Every kind of check: required, unique, a two-column primary key and each library metric.
PORT = Port(
    name="codes",
    model="dim_codes",
    description="",
    columns=(
        _column("code", "varchar", required=True, primary_key=True),
        _column("region", "varchar", primary_key=True, position=2),
        _column("amount", "decimal(12, 2)", unique=True),
    ),
    quality=(
        _rule("codes_exist", "rowCount", None),
        _rule("code_shape", "invalidValues", "code", pattern=r"[A-Z]{2}-\d+"),
        _rule("region_known", "invalidValues", "region", validValues=["north", "south's"]),
        _rule("region_given", "nullValues", "region", missingValues=["", "n/a"]),
        _rule("amount_once", "duplicateValues", "amount"),
    ),
)


@pytest.mark.parametrize("engine", sorted(DIALECTS))
def test_every_check_parses_in_the_engines_grammar(engine: str) -> None:
    dialect = DIALECTS[engine]
    table = f"{dialect.quote('marts')}.{dialect.quote('dim_codes')}"
    checks = [check for check in port_checks(PORT, table, engine) if check.sql]
    assert len(checks) == 8
    for check in checks:
        try:
            sqlglot.parse_one(check.sql, read=GRAMMARS[engine])
        except sqlglot.errors.ParseError as error:
            pytest.fail(f"{check.name} does not parse on {engine}: {check.sql}\n{error}")


def test_checks_count_what_they_promise_on_duckdb(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "codes.duckdb"))
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.dim_codes as select * from (values"
        " ('AB-1', 'north', 1.00), ('AB-1', 'north', 2.00), ('xx', 'south''s', 2.00),"
        " (null, 'n/a', 3.00), ('CD-2', '', 4.00), ('EF-3', 'west', 5.00))"
        " as t(code, region, amount)"
    )
    observed = {
        check.name: conn.execute(check.sql).fetchone()[0]
        for check in port_checks(PORT, '"marts"."dim_codes"', "duckdb")
        if check.sql
    }
    assert observed == {
        "code_is_not_null": 1,
        "amount_is_unique": 1,
        # one duplicated key (AB-1, north) and one key with a null part
        "primary_key_is_unique": 2,
        "codes_exist": 6,
        "code_shape": 1,  # 'xx'; the null code is not judged by its shape
        "region_known": 3,  # n/a, '' and west; south's is valid
        "region_given": 2,
        "amount_once": 1,
    }


@pytest.mark.parametrize(
    ("engine", "literal"),
    [
        ("duckdb", r"'it''s a \d'"),
        ("trino", r"'it''s a \d'"),
        ("spark", r"'it\'s a \\d'"),
        ("bigquery", r"'it\'s a \\d'"),
        ("snowflake", r"'it\'s a \\d'"),
    ],
)
def test_string_literals_follow_each_engines_escaping(engine: str, literal: str) -> None:
    assert DIALECTS[engine].literal(r"it's a \d") == literal


@pytest.mark.parametrize(
    ("contract_type", "found", "engine"),
    [
        ("varchar", "string", "spark"),
        ("integer", "int", "spark"),
        ("decimal(12, 2)", "decimal(12,2)", "spark"),
        ("timestamp", "timestamp_ntz", "spark"),
        ("varchar", "varchar", "trino"),
        ("bigint", "NUMBER(38,0)", "snowflake"),
        ("integer", "NUMBER(38,0)", "snowflake"),
        ("varchar", "VARCHAR(16777216)", "snowflake"),
        ("double", "FLOAT", "snowflake"),
        ("integer", "INT64", "bigquery"),
        ("varchar", "STRING", "bigquery"),
        ("decimal(12, 2)", "NUMERIC(12, 2)", "bigquery"),
        ("boolean", "BOOL", "bigquery"),
    ],
)
def test_contract_types_match_what_each_engine_reports(
    contract_type: str, found: str, engine: str
) -> None:
    assert engine_type(contract_type, engine) == engine_type(found, engine)


def test_types_that_differ_stay_different() -> None:
    assert engine_type("integer", "duckdb") != engine_type("bigint", "duckdb")
    assert engine_type("decimal(12, 2)", "spark") != engine_type("decimal(10, 2)", "spark")
    assert engine_type("date", "bigquery") != engine_type("timestamp", "bigquery")


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

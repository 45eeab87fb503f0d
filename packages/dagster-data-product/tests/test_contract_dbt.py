"""The dbt files generated from the contract: one dbt test per promise, run by dbt itself.

A small dbt project on DuckDB holds one port's model twice over, once with good rows and
once with rows that break chosen rules; dbt builds it with the generated files and each
test's status and failure count is compared with what the rule promises.
"""

import os
from pathlib import Path

import pytest
import yaml
from products import contract_document

from dagster_data_product.contract.dbt import (
    check_names,
    dbt_disagreements,
    generated_files,
    write_dbt_files,
)
from dagster_data_product.contract.model import ContractError, load_contract
from dagster_data_product.dbt.process import release_duckdb


def _property(name: str, physical_type: str, **more) -> dict:
    logical = {"varchar": "string", "bigint": "integer"}.get(physical_type, "number")
    return {"name": name, "logicalType": logical, "physicalType": physical_type, **more}


def _rule(name: str, **rule) -> dict:
    return {"name": name, "type": "library", **rule}


def codes_contract() -> dict:
    """A port with every kind of promise: unique, a two-column key, a relationship and
    each library metric, plus sql rules with a threshold and a range."""
    document = contract_document("geo", "codes", ports=("codes",))
    (port,) = document["schema"]
    port["customProperties"] = [{"property": "dbtModel", "value": "dim_codes"}]
    port["quality"] = [_rule("codes_exist", metric="rowCount", mustBeGreaterThan=6)]
    port["properties"] = [
        _property("code", "varchar", required=True, primaryKey=True, primaryKeyPosition=1),
        _property(
            "region", "varchar", primaryKey=True, primaryKeyPosition=2,
            quality=[
                _rule("region_known", metric="invalidValues",
                      arguments={"validValues": ["north", "south's", "n/a", ""]}, mustBe=0),
                _rule("region_given", metric="nullValues",
                      arguments={"missingValues": ["", "n/a"]}, mustBeLessThan=2),
                {"name": "few_regions", "type": "sql",
                 "query": "select count(distinct ${column}) from ${table}",
                 "mustBeBetween": [1, 3]},
            ],
        ),
        _property(
            "amount", "decimal(12, 2)", unique=True,
            quality=[
                _rule("amount_once", metric="duplicateValues", mustBe=0),
                {"name": "amount_small", "type": "sql",
                 "query": "select max(${column}) from ${table}", "mustBeLessThan": 100},
            ],
        ),
        _property("parent", "varchar", relationships=[{"to": "codes.code"}]),
    ]
    return document


GOOD_ROWS = [
    ("AB-1", "north", 1, "AB-1"),
    ("AB-2", "north", 2, "AB-1"),
    ("CD-1", "south's", 3, "AB-1"),
    ("CD-2", "south's", 4, None),
    ("EF-1", "", 5, "CD-1"),
    ("EF-2", "north", 6, "EF-1"),
    ("EF-3", "north", 7, "EF-2"),
]
# One row fewer than the 7 promised; each other change breaks what its comment says.
BAD_ROWS = [
    ("AB-1", "north", 1, "AB-1"),
    ("AB-1", "north", 2, "AB-1"),  # the key (AB-1, north) twice
    ("CD-1", "south's", 2, "ZZ-9"),  # amount 2 twice; ZZ-9 is no code
    ("CD-2", "n/a", 4, None),  # a missing region ...
    ("EF-1", "", 5, "CD-1"),  # ... and a second one
    ("EF-2", "west", 6, "EF-1"),  # an unknown region, the fifth one
]
BROKEN = {
    "codes_exist": 1,
    "codes_primary_key_is_unique": 1,
    "region_known": 1,
    "region_given": 1,
    "few_regions": 1,
    "amount_is_unique": 1,
    "amount_once": 1,
    "parent_references_codes": 1,
}


def _model_sql() -> str:
    def values(rows):
        def literal(value):
            if value is None:
                return "null"
            if isinstance(value, int):
                return f"{value}.00"
            return "'" + value.replace("'", "''") + "'"

        return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)

    select = (
        "select code::varchar as code, region::varchar as region,"
        " amount::decimal(12, 2) as amount, parent::varchar as parent from (values {rows})"
        " as t(code, region, amount, parent)"
    )
    return (
        "{% if var('bad', false) %}\n" + select.format(rows=values(BAD_ROWS))
        + "\n{% else %}\n" + select.format(rows=values(GOOD_ROWS)) + "\n{% endif %}\n"
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A product folder with the contract and a dbt project whose files it generated."""
    root = tmp_path / "codes"
    (root / "dbt" / "models" / "marts").mkdir(parents=True)
    (root / "datacontract.yaml").write_text(yaml.safe_dump(codes_contract(), sort_keys=False))
    (root / "dbt" / "models" / "marts" / "dim_codes.sql").write_text(_model_sql())
    (root / "dbt" / "dbt_project.yml").write_text(
        "name: codes\nversion: '1.0'\nconfig-version: 2\nprofile: codes\n"
        "models:\n  codes:\n    +materialized: table\n"
    )
    (root / "dbt" / "profiles.yml").write_text(
        "codes:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'codes.duckdb'}\n      threads: 1\n"
    )
    write_dbt_files(load_contract(root / "datacontract.yaml"), root / "dbt", "duckdb")
    return root


def _build(root: Path, bad: bool) -> dict[str, tuple[str, int]]:
    """`dbt build` of the project: each test's status and failure count, by name."""
    from dbt.cli.main import dbtRunner

    folder = str(root / "dbt")
    working = os.getcwd()
    try:
        result = dbtRunner().invoke(
            ["build", "--quiet", "--project-dir", folder, "--profiles-dir", folder,
             "--vars", f"{{bad: {str(bad).lower()}}}"]
        )
    finally:
        release_duckdb()
        os.chdir(working)
    assert result.exception is None, result.exception
    return {
        item.node.name: (str(item.status), item.failures or 0)
        for item in result.result.results
        if item.node.resource_type == "test"
    }


def test_each_promise_is_one_dbt_test_named_after_it(project: Path) -> None:
    contract = load_contract(project / "datacontract.yaml")
    names = check_names(contract, "duckdb")["codes"]
    assert sorted(names) == sorted([*BROKEN, "amount_small"])
    good = _build(project, bad=False)
    assert sorted(good) == sorted(names), "dbt ran other tests than the contract's"
    assert {name: status for name, (status, _) in good.items()} == dict.fromkeys(names, "pass")


def test_a_broken_rule_fails_its_own_test_and_no_other(project: Path) -> None:
    bad = _build(project, bad=True)
    failed = {name: failures for name, (status, failures) in bad.items() if status == "fail"}
    assert failed == BROKEN
    assert bad["amount_small"][0] == "pass"


def test_on_snowflake_tests_name_columns_as_it_stores_them_and_judge_alike(project: Path) -> None:
    """dbt creates a Snowflake table's columns unquoted, so in upper case: a quoted name in
    a rule's SQL must be upper case there. The dev target (DuckDB) ignores the case of
    quoted names: the same files give the same verdicts on it."""
    contract = load_contract(project / "datacontract.yaml")
    files = generated_files(contract, project / "dbt", "snowflake")
    rules = "\n".join(text for path, text in files.items() if path.suffix == ".sql")
    assert "adapter.quote('REGION')" in rules and "adapter.quote('AMOUNT')" in rules
    assert "adapter.quote('region')" not in rules
    write_dbt_files(contract, project / "dbt", "snowflake")
    bad = _build(project, bad=True)
    assert {name: failures for name, (status, failures) in bad.items() if status == "fail"} == BROKEN


def test_generated_files_agree_until_one_is_edited(project: Path) -> None:
    contract = load_contract(project / "datacontract.yaml")
    dbt = project / "dbt"
    assert dbt_disagreements(contract, dbt, "duckdb") == []
    files = generated_files(contract, dbt, "duckdb")
    assert sorted(p.relative_to(dbt).as_posix() for p in files) == [
        "models/marts/dim_codes.yml",
        "tests/contract/amount_once.sql",
        "tests/contract/amount_small.sql",
        "tests/contract/codes_exist.sql",
        "tests/contract/codes_primary_key_is_unique.sql",
        "tests/contract/few_regions.sql",
        "tests/contract/region_given.sql",
        # A valid value holds a quote, which dbt's accepted_values would not escape.
        "tests/contract/region_known.sql",
    ]
    test = dbt / "tests" / "contract" / "few_regions.sql"
    test.write_text(test.read_text().replace("between 1 and 3", "between 1 and 9"))
    (report,) = dbt_disagreements(contract, dbt, "duckdb")
    assert "-where observed is null or not (observed between 1 and 3)" in report
    assert "uv run contract dbt" in report
    assert write_dbt_files(contract, dbt, "duckdb") == [test]
    assert dbt_disagreements(contract, dbt, "duckdb") == []


def test_strings_are_the_engines_own_type(project: Path) -> None:
    contract = load_contract(project / "datacontract.yaml")
    for engine, spelled in [("duckdb", "varchar"), ("spark", "string"), ("bigquery", "string")]:
        files = generated_files(contract, project / "dbt", engine)
        model = yaml.safe_load(files[project / "dbt" / "models" / "marts" / "dim_codes.yml"])
        types = {c["name"]: c["data_type"] for c in model["models"][0]["columns"]}
        assert types == {
            "code": spelled, "region": spelled, "amount": "decimal(12, 2)", "parent": spelled
        }


def test_on_spark_a_required_column_is_a_not_null_test(project: Path) -> None:
    """Spark's Parquet tables hold no not-null constraint: dbt's test checks the promise."""
    contract = load_contract(project / "datacontract.yaml")
    duckdb_names = check_names(contract, "duckdb")["codes"]
    spark_names = check_names(contract, "spark")["codes"]
    # code is required and both key columns must be present: one test each, on Spark only.
    assert sorted(set(spark_names) - set(duckdb_names)) == ["code_is_not_null", "region_is_not_null"]
    files = generated_files(contract, project / "dbt", "spark")
    model = yaml.safe_load(files[project / "dbt" / "models" / "marts" / "dim_codes.yml"])
    (code,) = [c for c in model["models"][0]["columns"] if c["name"] == "code"]
    assert code["constraints"] == [{"type": "not_null"}]
    assert [next(iter(test)) for test in code["data_tests"]] == ["not_null"]


def test_a_hand_written_entry_of_a_port_model_is_reported(project: Path) -> None:
    contract = load_contract(project / "datacontract.yaml")
    extra = project / "dbt" / "models" / "more.yml"
    extra.write_text("version: 2\nmodels:\n  - name: dim_codes\n    description: mine\n")
    (report,) = dbt_disagreements(contract, project / "dbt", "duckdb")
    assert "models/more.yml describes port model dim_codes" in report


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda port: port["properties"][1]["quality"][0]["arguments"].update(
                {"validValues": None, "pattern": "[a-z]+"}
            ),
            "invalidValues with a pattern is not supported",
        ),
        (
            lambda port: port["properties"][3]["relationships"][0].update({"to": "codes.nothing"}),
            "references codes.nothing, which is not a property of a port of this contract",
        ),
        (
            lambda port: port["properties"][2]["quality"][0].update({"name": "codes_exist"}),
            "quality rule name 'codes_exist' is used twice",
        ),
    ],
    ids=["pattern", "relationship", "duplicate-name"],
)
def test_a_rule_dbt_cannot_check_is_refused_by_name(tmp_path: Path, change, message) -> None:
    document = codes_contract()
    change(document["schema"][0])
    path = tmp_path / "datacontract.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "dbt" / "models").mkdir(parents=True)
    (tmp_path / "dbt" / "models" / "dim_codes.sql").write_text("select 1 as code\n")
    with pytest.raises(ContractError, match=message):
        generated_files(load_contract(path), tmp_path / "dbt", "duckdb")


def test_a_port_without_its_model_names_the_model(tmp_path: Path) -> None:
    path = tmp_path / "datacontract.yaml"
    path.write_text(yaml.safe_dump(codes_contract(), sort_keys=False))
    (tmp_path / "dbt" / "models").mkdir(parents=True)
    (report,) = dbt_disagreements(load_contract(path), tmp_path / "dbt", "duckdb")
    assert "no dbt model dim_codes.sql" in report


def test_rule_names_are_one_per_project_and_implied_names_one_per_port(tmp_path: Path) -> None:
    """A singular test is a file named after its rule, so two ports cannot share a rule's
    name; the checks a property implies are named per port and may repeat across ports."""
    document = codes_contract()
    twin = yaml.safe_load(yaml.safe_dump(document["schema"][0]))
    twin["name"] = "codes_copy"
    twin["customProperties"] = [{"property": "dbtModel", "value": "dim_codes_copy"}]
    twin["quality"] = []
    for prop in twin["properties"]:
        prop.pop("quality", None)
        prop.pop("relationships", None)
    document["schema"].append(twin)
    path = tmp_path / "datacontract.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "dbt" / "models").mkdir(parents=True)
    for model in ("dim_codes", "dim_codes_copy"):
        (tmp_path / "dbt" / "models" / f"{model}.sql").write_text("select 1 as code\n")
    names = check_names(load_contract(path), "spark")
    assert {"amount_is_unique", "code_is_not_null"} <= set(names["codes"]) & set(names["codes_copy"])
    generated_files(load_contract(path), tmp_path / "dbt", "spark")
    twin["quality"] = [_rule("codes_exist", metric="rowCount", mustBeGreaterThan=0)]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ContractError, match="rule name 'codes_exist' of port codes_copy is also"):
        generated_files(load_contract(path), tmp_path / "dbt", "duckdb")

"""An outside ODCS client understands the contract as shipped.

datacontract-cli, the reference tool of the Open Data Contract Standard, runs from its own
tool environment (`uv tool run`, as a consumer would run it, never the product's), from
the product's root: it resolves a server's relative path from the folder it runs in.

- `datacontract lint` passes on the contract of every engine's product;
- `datacontract test --server published` passes on the ports of a materialized default
  product. The `production` server of the other engines (Spark, Trino, Snowflake,
  BigQuery) is reached only where the product is deployed, so only its lint runs here.
"""

import json
from pathlib import Path

import pytest
import yaml

from conftest import run, uv_executable

#: The datacontract-cli this suite checks against; uv's tool cache keeps it between runs.
DATACONTRACT_CLI = "datacontract-cli[duckdb,parquet]>=1.2.8,<1.3"
WAREHOUSES = ["duckdb", "spark", "trino", "snowflake", "bigquery"]
#: What datacontract-cli 1.2 reports as a warning on Parquet files: the files are read into
#: the contract's types, so it does not compare them. Any other warning fails the test.
UNCHECKED_ON_FILES = {"field_type"}


def datacontract(*args: str, cwd: Path, results: Path) -> tuple[int, dict, str]:
    """Run `datacontract ARGS` in `cwd`: its exit code, its JSON results and its output."""
    completed = run(
        [uv_executable(), "tool", "run", "--quiet", "--from", DATACONTRACT_CLI,
         "datacontract", *args, "--output-format", "json", "--output", str(results)],
        cwd=cwd,
        check=False,
        env={"COLUMNS": "200"},
    )
    output = completed.stdout + completed.stderr
    assert results.exists(), f"datacontract {args[0]} wrote no results:\n{output[-6000:]}"
    return completed.returncode, json.loads(results.read_text()), output


def not_passed(results: dict) -> list[str]:
    """Every check that neither passed nor is one datacontract-cli cannot run on files."""
    return [
        f"{check['result']}: {check['name']} ({check.get('model')}.{check.get('field')}): "
        f"{check.get('reason')}"
        for check in results["checks"]
        if check["result"] != "passed"
        and not (check["result"] == "warning" and check["type"] in UNCHECKED_ON_FILES)
    ]


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_contract_passes_datacontract_lint(copie, warehouse: str, tmp_path: Path) -> None:
    result = copie.copy(extra_answers={"warehouse": warehouse})
    assert result.exit_code == 0, result.exception
    code, results, output = datacontract(
        "lint", "datacontract.yaml", cwd=result.project_dir, results=tmp_path / "lint.json"
    )
    assert code == 0 and results["result"] == "passed", output[-6000:]
    assert results["checks"] and not_passed(results) == [], output[-6000:]
    servers = {s["server"] for s in yaml.safe_load(
        (result.project_dir / "datacontract.yaml").read_text())["servers"]}
    assert servers == ({"published"} if warehouse == "duckdb" else {"published", "production"})


def quality_rules(contract: dict) -> int:
    """The quality rules of the contract's ports and of their properties."""
    return sum(
        len(obj.get("quality") or []) + sum(len(p.get("quality") or []) for p in obj["properties"])
        for obj in contract["schema"]
    )


@pytest.mark.product
@pytest.mark.nightly
def test_published_ports_pass_datacontract_test(demo_product, tmp_path: Path) -> None:
    dest, _ = demo_product
    contract = yaml.safe_load((dest / "datacontract.yaml").read_text())
    code, results, output = datacontract(
        "test", "datacontract.yaml", "--server", "published",
        cwd=dest, results=tmp_path / "test.json",
    )
    assert code == 0 and results["result"] in ("passed", "warning"), output[-6000:]
    assert not_passed(results) == [], output[-6000:]
    passed = [check for check in results["checks"] if check["result"] == "passed"]
    # Every port was read and every quality rule ran on it.
    assert {check["model"] for check in passed} == {obj["name"] for obj in contract["schema"]}
    assert len([c for c in passed if c["category"] == "quality"]) == quality_rules(contract)

    # And a port that breaks the contract fails it: a contract whose orders must have more
    # rows than they have, kept outside the product and run from its root all the same.
    orders = next(obj for obj in contract["schema"] if obj["name"] == "orders")
    (row_count,) = [rule for rule in orders["quality"] if rule.get("metric") == "rowCount"]
    row_count["mustBeGreaterThan"] = 10**9
    broken = tmp_path / "datacontract.yaml"
    broken.write_text(yaml.safe_dump(contract, sort_keys=False))
    code, results, output = datacontract(
        "test", str(broken), "--server", "published", cwd=dest, results=tmp_path / "broken.json"
    )
    assert code != 0 and results["result"] == "failed", output[-6000:]
    (failed,) = not_passed(results)
    assert failed.startswith("failed: ") and "(orders.None)" in failed, failed

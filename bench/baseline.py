"""The product's default materialization without Dagster: what `dg launch --assets '*'` is compared with.

Run inside a rendered product's environment, from the product's root folder:

    DUCKDB_PATH=/abs/w.duckdb PUBLISH_DIR=/abs/published uv run python <template>/bench/baseline.py

It does the same work as the product's assets, in the same order, with the product's own code
wherever that code does not import Dagster:

1. ingestion: `defs/ingest/source_data.generate()` loaded into the `raw` schema with the
   ingestion asset's column types (read from its module without importing it) and the same
   statements (one transaction per table, `executemany` inserts);
2. `dbt build` in dbt/, the plain dbt CLI of the product's environment, in a subprocess, with
   dbt's own defaults (partial parsing on, target/ as target path);
3. the contract checks of every output port (`contract.checks.port_checks`, same SQL);
4. publishing every port as Parquet with `defs/ports/publish.publish_table`.

Left out: the revenue forecast (a Python asset of a few tens of milliseconds that only exists
as a Dagster asset) and everything Dagster adds: run storage, events, asset checks as
records, the automation sensor.

Prints one JSON object of step timings (seconds) on its last line.
"""

import ast
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path.cwd()


def package_name() -> str:
    """The product's Python package: the only folder under src/."""
    (package,) = [p.name for p in (ROOT / "src").iterdir() if (p / "product.py").exists()]
    return package


def raw_tables(package: str) -> dict[str, tuple[str, str]]:
    """RAW_TABLES of the ingestion asset, read from source so Dagster is never imported."""
    source = (ROOT / "src" / package / "defs" / "ingest" / "assets.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "RAW_TABLES" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise SystemExit("RAW_TABLES not found in the ingestion asset")


def ingest(package: str, duckdb_file: Path) -> None:
    import duckdb

    source_data = importlib.import_module(f"{package}.defs.ingest.source_data")
    extract = source_data.generate()
    rows = {"customers": extract.customers, "products": extract.products, "orders": extract.orders}
    with duckdb.connect(str(duckdb_file)) as conn:
        conn.execute("create schema if not exists raw")
        for table, (columns, _) in raw_tables(package).items():
            conn.execute("begin transaction")
            conn.execute(f"create or replace table raw.{table} ({columns})")
            placeholders = ", ".join("?" for _ in rows[table][0])
            conn.executemany(f"insert into raw.{table} values ({placeholders})", rows[table])
            conn.execute("commit")


def dbt_build() -> None:
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build"], check=False, cwd=ROOT / "dbt", capture_output=True, text=True
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:])
        raise SystemExit(f"dbt build failed ({completed.returncode})")


def relations(manifest_path: Path) -> dict[str, tuple[str, str]]:
    manifest = json.loads(manifest_path.read_text())
    return {
        node["name"]: (node["schema"], node.get("alias") or node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def check_and_publish(package: str, duckdb_file: Path) -> tuple[float, float]:
    import duckdb

    contract_pkg = importlib.import_module(f"{package}.contract")
    checks_mod = importlib.import_module(f"{package}.contract.checks")
    publish_table = importlib.import_module(f"{package}.defs.ports.publish").publish_table
    contract = contract_pkg.product_contract()
    models = relations(ROOT / "dbt" / "target" / "manifest.json")
    checked = published = 0.0
    with duckdb.connect(str(duckdb_file)) as conn:
        for port in contract.ports:
            schema, table = models[port.model]
            relation = f'"{schema}"."{table}"'
            start = time.perf_counter()
            for check in checks_mod.port_checks(port, relation):
                if check.sql is None:
                    found = checks_mod.table_columns(conn, schema, table)
                    ok = not checks_mod.schema_differences(list(port.columns), found)
                else:
                    ok = check.passes(conn.execute(check.sql).fetchone()[0])
                if not ok:
                    raise SystemExit(f"contract check {check.name} failed on {port.name}")
            middle = time.perf_counter()
            publish_table(conn, relation, contract.published_file(port))
            checked += middle - start
            published += time.perf_counter() - middle
    return checked, published


def main() -> None:
    started = time.perf_counter()
    duckdb_file = Path(os.environ["DUCKDB_PATH"])
    package = package_name()
    timings = {}
    t = time.perf_counter()
    ingest(package, duckdb_file)
    timings["ingest_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dbt_build()
    timings["dbt_build_s"] = time.perf_counter() - t
    timings["checks_s"], timings["publish_s"] = check_and_publish(package, duckdb_file)
    timings["in_process_total_s"] = time.perf_counter() - started
    print(json.dumps({k: round(v, 3) for k, v in timings.items()}))


if __name__ == "__main__":
    main()

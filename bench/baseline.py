"""The product's default materialization without Dagster: what `dg launch --assets '*'` is compared with.

Run inside a rendered product's environment, from the product's root folder:

    DUCKDB_PATH=/abs/w.duckdb PUBLISH_DIR=/abs/published uv run python <template>/bench/baseline.py

It does the same work as the product's assets, in the same order, with the product's own code
wherever that code does not import Dagster:

1. ingestion: `defs/ingest/source_data.generate().tables()` (Arrow tables typed by
   `RAW_SCHEMAS`) landed in the `raw` schema with `warehouse.connect().replace_table`, the
   call the ingestion asset makes;
2. `dbt build` in dbt/, the plain dbt CLI of the product's environment, in a subprocess, with
   dbt's own defaults (partial parsing on, target/ as target path): what a cron job runs. It
   runs the contract's checks too: they are the dbt tests generated from the contract;
3. a snapshot of every output port (`stage`), as the dbt step takes once its tests passed;
4. publishing every port by renaming that snapshot into place (`promote`), as the port
   assets do.

Left out: the revenue forecast (a Python asset of a few tens of milliseconds that only exists
as a Dagster asset) and everything Dagster adds: run storage, events, asset checks as
records, the automation sensor.

Prints one JSON object of step timings (seconds) on its last line.
"""

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from dagster_data_product import product_of, warehouse

ROOT = Path.cwd()


def package_name() -> str:
    """The product's Python package: the only folder under src/ with definitions."""
    (package,) = [p.name for p in (ROOT / "src").iterdir() if (p / "definitions.py").exists()]
    return package


def ingest(package: str) -> None:
    source_data = importlib.import_module(f"{package}.defs.ingest.source_data")
    tables = source_data.generate().tables()
    with warehouse.connect(product_of(ROOT), "duckdb") as wh:
        for table, data in tables.items():
            wh.replace_table("raw", table, data)


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


def stage_and_publish(package: str) -> tuple[float, float]:
    product = product_of(ROOT)
    contract = product.contract
    models = relations(ROOT / "dbt" / "target" / "manifest.json")
    staged_s = published = 0.0
    with warehouse.connect(product, "duckdb") as wh:
        for port in contract.ports:
            schema, table = models[port.model]
            start = time.perf_counter()
            # Write-audit-publish as the product does it: dbt's tests passed, a snapshot is
            # taken, then renamed into place.
            staged = wh.stage(schema, table, port.name, contract.published_file(port), "baseline")
            middle = time.perf_counter()
            wh.promote(staged)
            staged_s += middle - start
            published += time.perf_counter() - middle
    return staged_s, published


def main() -> None:
    started = time.perf_counter()
    package = package_name()
    timings = {}
    t = time.perf_counter()
    ingest(package)
    timings["ingest_s"] = time.perf_counter() - t
    t = time.perf_counter()
    dbt_build()
    timings["dbt_build_s"] = time.perf_counter() - t
    timings["stage_s"], timings["publish_s"] = stage_and_publish(package)
    timings["in_process_total_s"] = time.perf_counter() - started
    print(json.dumps({k: round(v, 3) for k, v in timings.items()}))


if __name__ == "__main__":
    main()

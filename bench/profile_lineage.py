"""What column profiles and lineage events cost.

    uv run python bench/profile_lineage.py [profile] [lineage] [--rows N] [--repeats N]

Prints one JSON object; it measures, it never judges (the exit code is 0 unless a command
failed). docs/lineage.md explains the figures.

- profile_overhead: a port of `--rows` rows (10 million by default) in a DuckDB file,
  shaped like the example's orders port. Its publishing (stage the snapshot, read its
  profile, promote it) is timed with the profile (taken while staging, as the product does)
  and without it, alternately; the figure is the extra time as a share of the publishing
  without it. Target: at most 0.10. `profile_query_share` times the profile query alone
  against the same baseline; `profile_overhead_approx_distinct` the query with approximate
  distinct counts.
- lineage_overhead: the default product is rendered from this checkout and
  `uv run dg launch --assets '*'` is timed with lineage on and with OPENLINEAGE_DISABLED=true
  (which openlineage-python honours: no event is built into a transport), alternately;
  the figure is the extra time of the median run. Target: at most 0.02.

Whether PYTHONDONTWRITEBYTECODE was set is printed with the figures: without bytecode
caches every `dg launch` compiles the product and its dependencies again, which is slower
and noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "packages" / "dagster-data-product"

PORT_SQL = """
create or replace table marts.fct_orders as
select
    range::bigint as order_id,
    (range % 100000)::bigint as customer_id,
    date '2024-01-01' + (range % 730)::integer as order_date,
    ['placed', 'shipped', 'completed', 'returned'][1 + range % 4] as status,
    (1 + range % 9)::integer as quantity,
    ((range % 100000) / 100.0)::decimal(14, 2) as amount,
    case when range % 10 = 0 then 'CODE' || (range % 50)::varchar end as coupon_code
from range({rows})
"""


def _profile_inner(rows: int, repeats: int) -> dict:
    """Runs in the package's environment: time publish with and without the profile."""
    import duckdb

    from dagster_data_product.profile import profile
    from dagster_data_product.warehouse import DuckDBWarehouse

    with tempfile.TemporaryDirectory() as folder:
        conn = duckdb.connect(str(Path(folder) / "bench.duckdb"))
        conn.execute("create schema marts")
        started = time.perf_counter()
        conn.execute(PORT_SQL.format(rows=rows))
        generated_s = time.perf_counter() - started
        wh = DuckDBWarehouse(conn)
        target = Path(folder) / "published" / "orders.parquet"
        timings: dict[str, list[float]] = {
            "publish_s": [], "publish_with_profile_s": [], "stage_with_profile_s": [],
            "profile_s": [], "profile_approx_distinct_s": [],
        }
        unique = ("order_id",)  # the port's primary key, which its audit proves unique
        for attempt in range(repeats):
            for with_profile in (False, True) if attempt % 2 == 0 else (True, False):
                started = time.perf_counter()
                staged = wh.stage("marts", "fct_orders", "orders", target, f"run{attempt}",
                                  unique, profiled=with_profile)
                staged_s = time.perf_counter() - started
                if with_profile:
                    # What the publishing step reads: the profile in the snapshot's footer.
                    profiled = wh.staged_profile(staged, unique)
                    assert profiled["dagster/row_count"] == rows, profiled
                wh.promote(staged)
                elapsed = time.perf_counter() - started
                if with_profile:
                    timings["publish_with_profile_s"].append(elapsed)
                    timings["stage_with_profile_s"].append(staged_s)
                    # The variant with approximate distinct counts, on the same table.
                    before = time.perf_counter()
                    profile(wh, "marts.fct_orders", wh.columns("marts", "fct_orders"), "approx",
                            unique)
                    timings["profile_approx_distinct_s"].append(time.perf_counter() - before)
                    # The profile query alone, as staging runs it.
                    before = time.perf_counter()
                    profile(wh, "marts.fct_orders", wh.columns("marts", "fct_orders"),
                            unique=unique)
                    timings["profile_s"].append(time.perf_counter() - before)
                else:
                    timings["publish_s"].append(elapsed)
        conn.close()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "rows": rows,
        "repeats": repeats,
        "generate_table_s": round(generated_s, 3),
        **{name: round(value, 3) for name, value in medians.items()},
        "profile_overhead": round(
            medians["publish_with_profile_s"] / medians["publish_s"] - 1, 4
        ),
        "profile_query_share": round(medians["profile_s"] / medians["publish_s"], 4),
        "profile_overhead_target": 0.10,
        "profile_overhead_approx_distinct": round(
            medians["profile_approx_distinct_s"] / medians["publish_s"], 4
        ),
    }


def profile_overhead(rows: int, repeats: int) -> dict:
    completed = subprocess.run(
        ["uv", "run", "--quiet", "--project", str(PACKAGE), "python", __file__,
         "--inner-profile", "--rows", str(rows), "--repeats", str(repeats)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout)


def _product_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "DUCKDB_PATH", "PUBLISH_DIR", "DAGSTER_HOME"}
           and not k.startswith("OPENLINEAGE")}
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    return env | extra


def lineage_overhead(repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        product = Path(folder) / "sales_orders"
        subprocess.run(["uvx", "copier", "copy", "--defaults", "--quiet", "--vcs-ref", "HEAD",
                        str(ROOT), str(product)], check=True, capture_output=True)
        subprocess.run(["uv", "sync", "--quiet"], cwd=product, check=True, env=_product_env())
        launch = ["uv", "run", "dg", "launch", "--assets", "*"]
        # Untimed: builds the dbt manifest and warms the caches.
        subprocess.run(launch, cwd=product, check=True, capture_output=True, env=_product_env())
        times: dict[str, list[float]] = {"on": [], "off": []}
        for attempt in range(repeats):
            for mode in ("on", "off") if attempt % 2 == 0 else ("off", "on"):
                env = _product_env(**({"OPENLINEAGE_DISABLED": "true"} if mode == "off" else {}))
                started = time.perf_counter()
                subprocess.run(launch, cwd=product, check=True, capture_output=True, env=env)
                times[mode].append(time.perf_counter() - started)
        events = product / "data" / "lineage" / "events.jsonl"
        count = len(events.read_text().splitlines()) if events.exists() else 0
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    return {
        "repeats": repeats,
        "launch_lineage_on_s": round(on, 3),
        "launch_lineage_off_s": round(off, 3),
        "launch_on_all_s": [round(t, 3) for t in times["on"]],
        "launch_off_all_s": [round(t, 3) for t in times["off"]],
        "events_written": count,
        "lineage_overhead": round(on / off - 1, 4),
        "lineage_overhead_target": 0.02,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="*", help="profile, lineage (default: both)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inner-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner_profile:
        print(json.dumps(_profile_inner(args.rows, args.repeats)))
        return 0
    figures = args.figures or ["profile", "lineage"]
    unknown = set(figures) - {"profile", "lineage"}
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    result: dict = {
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE") or None,
        "cpu_count": os.cpu_count(),
    }
    if "profile" in figures:
        result["profile"] = profile_overhead(args.rows, args.repeats)
    if "lineage" in figures:
        result["lineage"] = lineage_overhead(args.repeats)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

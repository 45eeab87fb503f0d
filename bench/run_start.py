"""How long a large product's run takes to start, on each instance storage, with and without
Dagster's event batching.

    python bench/run_start.py PRODUCT_DIR [--models 1000 10000] [--batch 0 1000] [--json PATH]
                              [--storage sqlite postgres] [--whole]

PRODUCT_DIR is a rendered product whose environment is synced (`uv sync`). For each model
count, its dbt project grows by that many generated models (`bench/scale.py`) and one
untimed `dg check defs` parses it. Then for each storage and each `DAGSTER_EVENT_BATCH_SIZE`,
`uv run dg launch --assets '*'` runs on a fresh instance, with fresh DuckDB and published
folders. The figure is `run_start_s`: from the command to the run's first step starting.
Before it, `dg` loads the definitions and Dagster stores one "planned" event per asset and
per check. With `--whole` the run goes on to its end (`run_s`); otherwise it is stopped
once its first step has started.

Storages: `sqlite`, the product's own instance settings (`dagster.yaml`); `postgres`, a real
PostgreSQL server as the Helm chart deploys one, reached through `dagster-postgres` (added to
the run with `uv run --with`, at the release matching the product's Dagster). The server
comes from Debian's `postgresql` package (installed with apt-get when missing, which needs
root). It is initialised in a temporary folder, listens on a free local port, gets a new
database for every launch, and is stopped when the benchmark ends.

Prints one line per launch and, with `--json`, writes every figure with the machine's facts.
The benchmark does not pass or fail on time. It exits 1 when a launch fails.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import scale

PG_BIN = Path("/usr/lib/postgresql")
FIRST_STEP = "STEP_START"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_bin() -> Path:
    if not PG_BIN.exists():
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "postgresql"], check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    version = max(PG_BIN.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    return version / "bin"


@contextmanager
def postgres_server():
    """A PostgreSQL server of its own: yields (port, createdb); stopped on exit."""
    bin_dir = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data = folder / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres")
    port = _free_port()
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
         "--auth=trust", "-E", "UTF8"], check=True, capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on"
    subprocess.run(
        [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
         "-l", str(folder / "server.log"), "start"], check=True, capture_output=True,
    )

    def createdb(name: str) -> None:
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
             name], check=True,
        )

    try:
        yield port, createdb
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True, check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_settings(product: Path, port: int, database: str) -> str:
    """The product's instance settings with PostgreSQL as every storage."""
    lines = (product / "dagster.yaml").read_text().split("\n")
    kept = lines[: next(i for i, line in enumerate(lines) if line.startswith("storage:"))]
    return "\n".join(kept) + (
        "\nstorage:\n  postgres:\n    postgres_db:\n      username: postgres\n"
        "      password: postgres\n      hostname: 127.0.0.1\n"
        f"      db_name: {database}\n      port: {port}\n"
        # dagster-postgres speaks through psycopg2 (SQLAlchemy 2.1 would pick psycopg 3).
        "      scheme: postgresql+psycopg2\n"
    )


def _product_version(product: Path, package: str) -> str:
    return subprocess.run(
        ["uv", "run", "--quiet", "python", "-c",
         f"import importlib.metadata as m; print(m.version({package!r}))"],
        cwd=product, check=True, capture_output=True, text=True,
    ).stdout.strip()


def launch(product: Path, env: dict[str, str], extra: list[str], whole: bool, log: Path) -> dict:
    """`dg launch --assets '*'`: seconds to the first step, and to the end with `whole`."""
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            ["uv", "run", "--quiet", *extra, "dg", "launch", "--assets", "*"], cwd=product,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        first = None
        try:
            for line in process.stdout:
                out.write(line)
                if first is None and FIRST_STEP in line:
                    first = time.monotonic() - started
                    if not whole:
                        break
        finally:
            if not whole:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    ended = time.monotonic() - started
    if first is None or (whole and process.returncode != 0):
        raise RuntimeError(f"the launch failed: see {log}")
    return {"run_start_s": round(first, 1), **({"run_s": round(ended, 1)} if whole else {})}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("product", type=Path)
    parser.add_argument("--models", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch", type=int, nargs="+", default=[0, 1000],
                        help="DAGSTER_EVENT_BATCH_SIZE values (0: unset, Dagster's default)")
    parser.add_argument("--storage", nargs="+", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    parser.add_argument("--whole", action="store_true", help="let every run go to its end")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    product = args.product.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-run-start-"))
    results = []
    dagster = _product_version(product, "dagster")
    minor = dagster.split(".")
    # dagster-postgres 0.N.P is released with dagster 1.(N-16).P.
    postgres_extra = [
        "--with", f"dagster-postgres==0.{int(minor[1]) + 16}.{minor[2]}",
        "--with", "psycopg2-binary",
    ]
    with postgres_server() if "postgres" in args.storage else _nothing() as server:
        for models in args.models:
            scale.generate(product, models)
            # Parse the grown project once, untimed: every launch then finds its manifest.
            subprocess.run(["uv", "run", "--quiet", "dg", "check", "defs"], cwd=product,
                           check=True, capture_output=True)
            for storage in args.storage:
                for batch in args.batch:
                    name = f"{models}-{storage}-{batch}"
                    home = work / name
                    home.mkdir()
                    extra = []
                    if storage == "postgres":
                        port, createdb = server
                        database = f"dagster_{name.replace('-', '_')}"
                        createdb(database)
                        (home / "dagster.yaml").write_text(
                            _postgres_settings(product, port, database)
                        )
                        extra = postgres_extra
                    else:
                        shutil.copy(product / "dagster.yaml", home / "dagster.yaml")
                    env = {
                        **os.environ, "DAGSTER_HOME": str(home),
                        "DUCKDB_PATH": str(home / "warehouse.duckdb"),
                        "PUBLISH_DIR": str(home / "published"),
                    }
                    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
                    if batch:
                        env["DAGSTER_EVENT_BATCH_SIZE"] = str(batch)
                    figures = launch(product, env, extra, args.whole, home / "launch.log")
                    row = {"models": models, "storage": storage, "batch": batch, **figures}
                    print(json.dumps(row), flush=True)
                    results.append(row)
    shutil.rmtree(product / "dbt" / "models" / scale.FOLDER, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({
            "results": results,
            "machine": {
                "cores": os.cpu_count(), "python": platform.python_version(),
                "dagster": dagster,
                "PYTHONDONTWRITEBYTECODE": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
            },
        }, indent=2))
    return 0


@contextmanager
def _nothing():
    yield None


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except RuntimeError as error:
        print(error, file=sys.stderr)
        sys.exit(1)

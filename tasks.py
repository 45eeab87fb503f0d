#!/usr/bin/env python3
"""The template's two entry points; they need nothing but Python 3 and pip.

    python3 tasks.py demo [DEST]    render a product with the default answers into DEST
                                    (default: ./demo-product), install it and materialize
                                    every asset on DuckDB, then print where the results are
    python3 tasks.py test [ARGS]    run the template's test suite (what CI runs); ARGS go
                                    to pytest

Both install uv with pip when it is missing, and uv installs everything else.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_DEST = ROOT / "demo-product"

SUMMARY = """
import duckdb
from dagster_data_product import product_of

path = product_of(".").duckdb_path()
print(f"\\nResults are in the DuckDB file {{path}}:")
with duckdb.connect(str(path), read_only=True) as conn:
    relations = conn.execute(
        "select table_schema, table_name from information_schema.tables order by 1, 2"
    ).fetchall()
    for schema, name in relations:
        count = conn.execute(f'select count(*) from "{{schema}}"."{{name}}"').fetchone()[0]
        print(f"  {{schema}}.{{name}}: {{count}} rows")
"""


BOOTSTRAP = ROOT / ".bootstrap"


def uv() -> list[str]:
    """The command that runs uv, installing it with pip first if it is not found.

    pip installs into the running Python; where that Python refuses (an "externally
    managed" system Python), uv goes into a private virtual environment, .bootstrap/.
    """
    found = shutil.which("uv")
    if found:
        return [found]
    private = BOOTSTRAP / "bin" / "uv"
    if private.exists():
        return [str(private)]
    try:
        import uv as uv_package  # noqa: F401

        return [sys.executable, "-m", "uv"]
    except ImportError:
        pass
    print("uv is missing: installing it with pip", flush=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "uv"]
    if subprocess.run(pip, check=False).returncode == 0:
        return [sys.executable, "-m", "uv"]
    print(f"pip cannot install into {sys.executable}: using a private environment", flush=True)
    run([sys.executable, "-m", "venv", str(BOOTSTRAP)])
    run([str(BOOTSTRAP / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv"])
    return [str(private)]


def run(command: list[str], cwd: Path = ROOT) -> None:
    """Run a command, echoing it; stop with its exit code if it fails."""
    print(f"+ {' '.join(command)}", flush=True)
    # A uv environment activated around this script is not the product's environment.
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    completed = subprocess.run(command, cwd=cwd, env=env, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def demo(dest: Path) -> None:
    """Render the default product into `dest` and materialize it end to end."""
    uv_cmd = uv()
    copy = [*uv_cmd, "run", "copier", "copy", "--defaults", "--overwrite", "--quiet"]
    if (ROOT / ".git").exists():
        # Render the working tree as it is, not the latest release tag.
        copy += ["--vcs-ref", "HEAD"]
    run([*copy, str(ROOT), str(dest)])
    run([*uv_cmd, "sync"], cwd=dest)
    run([*uv_cmd, "run", "dg", "launch", "--assets", "*"], cwd=dest)
    package = next((dest / "src").iterdir()).name
    run([*uv_cmd, "run", "python", "-c", SUMMARY.format(package=package)], cwd=dest)
    print(f"\nThe product is in {dest}: `cd {dest} && uv run dg dev` opens its Dagster UI.")


def test(pytest_args: list[str]) -> None:
    """Run the template's test suite with the template's own tooling."""
    run([*uv(), "run", "pytest", *pytest_args])


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test"}:
        sys.exit(__doc__)
    if argv[0] == "demo":
        demo(Path(argv[1]).resolve() if len(argv) > 1 else DEFAULT_DEST)
    else:
        test(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])

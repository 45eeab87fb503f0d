#!/usr/bin/env python3
"""The template's entry points; they need nothing but Python 3 and pip.

    python3 tasks.py demo [DEST]    render a product with the default answers into DEST
                                    (default: ./demo-product), install it and materialize
                                    every asset on DuckDB, then print where the results are
    python3 tasks.py ui [DEST]      open the Dagster UI of the product in DEST (`dg dev`)
    python3 tasks.py test [ARGS]    run the template's test suite (what CI runs); ARGS go
                                    to pytest

They install uv with pip when it is missing, and uv installs everything else. When the uv
they use is not on PATH, the commands they print name it by its full path.
"""

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEFAULT_DEST = ROOT / "demo-product"

SUMMARY = """
import duckdb
from dagster_data_product import product_of

path = product_of(".").duckdb_path()
print(f"Results are in the DuckDB file {path}:")
with duckdb.connect(str(path), read_only=True) as conn:
    relations = conn.execute(
        "select table_schema, table_name from information_schema.tables order by 1, 2"
    ).fetchall()
    for schema, name in relations:
        count = conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
        print(f"  {schema}.{name}: {count} rows")
"""


BOOTSTRAP = ROOT / ".bootstrap"
#: Lines of the log shown when a step of the demo fails.
FAILURE_TAIL = 40


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


def shell_command(uv_cmd: list[str], *args: str) -> str:
    """`uv ARGS` as a person types it to run the uv `uv_cmd` names: plain `uv` when that is
    the uv on PATH, else the full command (a private uv's path, or `python -m uv`), which a
    shell without uv on its PATH still runs."""
    on_path = shutil.which("uv")
    program = ["uv"] if on_path and uv_cmd == [on_path] else uv_cmd
    return shlex.join([*program, *args])


def next_steps(dest: Path, uv_cmd: list[str]) -> str:
    """What to do after the demo, in commands that run the uv the demo used."""
    ui = "python3 tasks.py ui" + ("" if dest == DEFAULT_DEST else f" {shlex.quote(str(dest))}")
    uv_on_path = shutil.which("uv")
    if uv_on_path and uv_cmd == [uv_on_path]:
        copier = "uvx copier copy"
    else:
        copier = shell_command(uv_cmd, "tool", "run", "copier", "copy")
    return "\n".join([
        f"The product is in {dest}. Next:",
        f"  {ui}",
        "      opens its Dagster UI; the same as:",
        f"  cd {shlex.quote(str(dest))} && {shell_command(uv_cmd, 'run', 'dg', 'dev')}",
        "      and to render a product of your own:",
        f"  {copier} {shlex.quote(str(ROOT))} my-product",
    ])


def product_environment() -> dict[str, str]:
    """The environment a product's commands run in."""
    # A uv environment activated around this script is not the product's environment, and
    # the Python pyenv chose for this script (PYENV_VERSION, which pyenv sets for what it
    # starts) is not the product's Python: without it, pyenv's shims honour the
    # product's .python-version.
    return {
        key: value for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYENV_VERSION"}
    }


def run(command: list[str], cwd: Path = ROOT) -> None:
    """Run a command, echoing it; stop with its exit code if it fails."""
    print(f"+ {' '.join(command)}", flush=True)
    completed = subprocess.run(command, cwd=cwd, env=product_environment(), check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def demo_log(dest: Path) -> Path:
    """Where the demo writes its commands' output: beside the product, not in it."""
    return dest.with_name(dest.name + ".log")


def step(name: str, command: list[str], cwd: Path, log: Path, capture: bool = False) -> str:
    """Run one step of the demo with its output in `log`; print its name and its time.

    With `capture`, returns what the command wrote to stdout (also logged) when it succeeds. When it fails, prints the
    end of the log and the log's path, and stops with the command's exit code.
    """
    print(f"  {name:<12}", end="", flush=True)
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ cd {shlex.quote(str(cwd))} && {shlex.join(command)}\n")
        out.flush()
        completed = subprocess.run(
            command, cwd=cwd, env=product_environment(), check=False, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if capture else out, stderr=out,
        )
        out.write(completed.stdout or "")
    elapsed = time.monotonic() - started
    if completed.returncode == 0:
        print(f"{elapsed:6.1f} s", flush=True)
        return completed.stdout or ""
    print(f"failed after {elapsed:.1f} s (exit code {completed.returncode})", flush=True)
    lines = log.read_text(errors="replace").splitlines()
    print(f"\nThe last {FAILURE_TAIL} lines of {log}:", file=sys.stderr)
    print("\n".join(lines[-FAILURE_TAIL:]), file=sys.stderr)
    print(f"\nThe whole output of the demo is in {log}.", file=sys.stderr)
    sys.exit(completed.returncode)


def demo(dest: Path) -> None:
    """Render the default product into `dest` and materialize it end to end.

    Prints one line per step with its time, then the rows of every table; the commands'
    own output goes to the log beside `dest`.
    """
    uv_cmd = uv()
    log = demo_log(dest)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    print(f"Demo product in {dest}; the commands' output goes to {log}", flush=True)
    copy = [*uv_cmd, "--quiet", "run", "copier", "copy", "--defaults", "--overwrite", "--quiet"]
    if (ROOT / ".git").exists():
        # Render the working tree as it is, not the latest release tag.
        copy += ["--vcs-ref", "HEAD"]
    step("render", [*copy, str(ROOT), str(dest)], ROOT, log)
    step("install", [*uv_cmd, "--quiet", "sync"], dest, log)
    step("materialize", [*uv_cmd, "--quiet", "run", "dg", "launch", "--assets", "*"], dest, log)
    summary = step("summary", [*uv_cmd, "--quiet", "run", "python", "-c", SUMMARY], dest, log, capture=True)
    print()
    print(summary.rstrip())
    print()
    print(next_steps(dest, uv_cmd))


def ui(dest: Path) -> None:
    """Serve the Dagster UI of the product in `dest` with the uv the demo used."""
    if not (dest / "pyproject.toml").exists():
        sys.exit(f"No product in {dest}: `python3 tasks.py demo` renders one there first.")
    command = [*uv(), "run", "dg", "dev"]
    print(f"+ cd {shlex.quote(str(dest))} && {shlex.join(command)}", flush=True)
    os.chdir(dest)
    # Replace this process: Ctrl-C goes straight to `dg dev`, which stops the UI cleanly.
    os.execve(command[0], command, product_environment())


def test(pytest_args: list[str]) -> None:
    """Run the template's test suite with the template's own tooling."""
    run([*uv(), "run", "pytest", *pytest_args])


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "ui", "test"}:
        sys.exit(__doc__)
    if argv[0] in {"demo", "ui"}:
        dest = Path(argv[1]).resolve() if len(argv) > 1 else DEFAULT_DEST
        (demo if argv[0] == "demo" else ui)(dest)
    else:
        test(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])

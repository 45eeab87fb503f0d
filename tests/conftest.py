"""Shared helpers of the template's test suite.

Rendering is cheap and done per test with pytest-copie's `copie`. Installing and running a
product is not: each product variant is rendered and installed once per session.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def product_env() -> dict[str, str]:
    """The environment a product's commands run in: none of the template's own venv, nor of
    its Python.

    A product picks its Python with its own .python-version. pyenv's shims honour that file
    unless PYENV_VERSION is set, and pyenv sets it for whatever it starts, this suite
    included (`python3 tasks.py test` through pyenv's `python3`): left in, it would hide
    the other Pythons pyenv has from the uv of a product rendered for 3.12 or 3.13.
    """
    env = {
        key: value for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYENV_VERSION"}
    }
    for name in ("DUCKDB_PATH", "PUBLISH_DIR", "DBT_TARGET", "SPARK_WAREHOUSE_DIR", "SPARK_METASTORE_DIR"):
        env.pop(name, None)
    # A product installed by the suite compiles only the modules its commands import, once
    # (see `uv`): a shell's PYTHONDONTWRITEBYTECODE would have every command compile them
    # again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # dg asks before sending telemetry on first use; tests must never wait on a prompt.
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    return env


def run(
    command: list[str],
    cwd: Path,
    timeout: int = 900,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command in `cwd`; unless `check` is off, fail the test with its output on error."""
    completed = subprocess.run(
        command,
        cwd=cwd,
        env={**product_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and completed.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited with {completed.returncode} in {cwd}\n"
            f"--- stdout ---\n{completed.stdout[-6000:]}\n--- stderr ---\n{completed.stderr[-6000:]}"
        )
    return completed


def uv_executable() -> str:
    """The uv that runs this suite (`uv run` names itself in $UV)."""
    executable = os.environ.get("UV") or shutil.which("uv")
    if not executable:
        pytest.fail("uv not found: run the suite with `python3 tasks.py test`")
    return executable


#: uv subcommands that may install a product's environment.
INSTALLING = {"sync", "run"}


def uv(*args: str, cwd: Path, timeout: int = 900, **options) -> subprocess.CompletedProcess:
    """Run uv in `cwd`; options as for `run`.

    A product compiles every installed module at `uv sync` (`compile-bytecode` in its
    pyproject.toml), about 15 s on 2 cores, and again at each later `uv sync`. The suite
    installs some twenty products and runs a few commands in each, so it installs them
    without compiling and lets Python write the bytecode of what the commands import. The
    quick start (`tasks.py demo`, the `demo_product` fixture) installs as a user's product
    does.
    """
    if args and args[0] in INSTALLING:
        args = (args[0], "--no-compile-bytecode", *args[1:])
    return run([uv_executable(), *args], cwd=cwd, timeout=timeout, **options)


@pytest.fixture(scope="session")
def demo_product(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README's quick start: render with defaults, install, materialize everything.

    The default product, materialized once for every module that reads it; its published
    ports are left as the run wrote them."""
    dest = tmp_path_factory.mktemp("quickstart") / "demo-product"
    completed = run([sys.executable, str(ROOT / "tasks.py"), "demo", str(dest)], cwd=ROOT)
    return dest, completed.stdout


def product_tests(project: Path) -> dict[str, str]:
    """Run a product's own test suite; return each test's outcome by its name."""
    report = project / "product-tests.xml"
    uv("run", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", cwd=project)
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[f"{case.get('classname')}.{case.get('name')}"] = (
            "failed" if failed else "skipped" if skipped else "passed"
        )
    report.unlink()
    return outcomes


def git_init(path: Path) -> None:
    """Make `path` a git repository with one commit, as a team's new product would be."""
    for command in (
        ["git", "init", "--quiet", "--initial-branch=main"],
        ["git", "add", "--all"],
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "commit", "--quiet", "--message", "Render the product"],
    ):
        run(command, cwd=path)


def instance_settings(product: Path) -> str:
    """The product's dagster.yaml for a DAGSTER_HOME of its own: the pool, without the
    storage in the product's folder (relative to the folder a command runs in)."""
    settings = yaml.safe_load((product / "dagster.yaml").read_text())
    settings.pop("storage", None)
    return yaml.safe_dump(settings)

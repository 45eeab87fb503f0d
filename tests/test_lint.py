"""The repository's own Python (the package, the suite, the benchmarks, tasks.py) passes ruff.

A product lints its code in its pre-commit hooks and CI (test_governance.py); the code every
product runs, the package, is held to the same named rules here. `template/` is left to the
products' own checks: its files are Jinja templates until rendered.
"""

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def ruff() -> str:
    """The ruff of the suite's own environment (a dev dependency in pyproject.toml)."""
    found = Path(sys.executable).with_name("ruff")
    assert found.exists(), f"ruff is not installed beside {sys.executable}"
    return str(found)


def test_repository_python_passes_ruff() -> None:
    checked = subprocess.run(
        [ruff(), "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_ruff_reports_a_finding_in_the_package(tmp_path: Path) -> None:
    """The check above can fail: the package's rules catch an unused import."""
    package = ROOT / "packages" / "dagster-data-product"
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    checked = subprocess.run(
        [ruff(), "check", "--no-cache", "--config", str(package / "pyproject.toml"), str(bad)],
        capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "F401" in checked.stdout, checked.stdout

"""A product rendered for each Python it may run on installs on it and passes its own tests.

The default Python's product is run by test_product.py; this module runs one product for
each other `python_version` choice, rendered and installed once. The product's tests turn
every warning into an error (its pyproject.toml), so a dependency or a product file that
warns on one Python only fails here.
"""

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, git_init, product_tests, uv

pytestmark = [pytest.mark.product, pytest.mark.nightly]

QUESTION = yaml.safe_load((ROOT / "copier.yml").read_text())["python_version"]
OTHER_VERSIONS = [version for version in QUESTION["choices"] if version != QUESTION["default"]]


@pytest.fixture(scope="session", params=OTHER_VERSIONS)
def versioned_product(request: pytest.FixtureRequest, copie_session) -> tuple[Path, str]:
    """The default product rendered for another Python, installed."""
    result = copie_session.copy(extra_answers={"python_version": request.param})
    assert result.exit_code == 0, result.exception
    git_init(result.project_dir)
    uv("sync", cwd=result.project_dir)
    return result.project_dir, request.param


def test_product_runs_on_its_python_and_passes_its_tests(versioned_product) -> None:
    project, version = versioned_product
    venv = (project / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(rf"^version_info = {re.escape(version)}\.", venv, re.MULTILINE), venv
    outcomes = product_tests(project)
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes
    assert any("test_pipeline" in name for name in outcomes), sorted(outcomes)

"""The package's version, and the check that a product runs the release it was rendered with.

The template and this package are released together under one version. A product's
`.copier-answers.yml` records the template release it was rendered from (`_commit`, the
release tag); its pyproject.toml pins this package to that release. A product whose
installed package differs from its template release would run machinery its files were
not written for, so loading it fails with both versions and the command that fixes it.
"""

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

DISTRIBUTION = "dagster-data-product"
ANSWERS_FILE = ".copier-answers.yml"
# A release tag (`v1.2.0`), possibly followed by git's count of commits after it.
_RELEASE = re.compile(r"v?(\d+\.\d+\.\d+)(?:-\d+-g[0-9a-f]+)?")

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"


class VersionMismatch(RuntimeError):
    """The installed package is not the release the product's template answers name."""


def template_release(root: Path) -> str | None:
    """The template release a product was rendered from or updated to, if it names one.

    None when the product has no answers file or was rendered from a commit that is not a
    release (its `_commit` is then a bare commit hash).
    """
    answers = root / ANSWERS_FILE
    if not answers.is_file():
        return None
    commit = str((yaml.safe_load(answers.read_text()) or {}).get("_commit") or "")
    match = _RELEASE.fullmatch(commit)
    return match.group(1) if match else None


def check_template_version(root: Path, installed: str | None = None) -> None:
    """Refuse a product whose installed package is not its template's release."""
    installed = installed or __version__
    release = template_release(root)
    if release is None or release == installed:
        return
    raise VersionMismatch(
        f"This product was rendered from template release {release} ({root / ANSWERS_FILE}), "
        f"but {DISTRIBUTION} {installed} is installed. Run `uv sync` in {root} to install "
        f"{DISTRIBUTION} {release}, as pyproject.toml pins it; if pyproject.toml pins "
        f"another release, bring the product to it with `uvx copier update --trust`."
    )

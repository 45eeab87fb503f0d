"""Helpers of the `copier update` tests: scratch template repositories and products in git.

A product's pyproject.toml takes dagster-data-product from the template checkout it was
rendered from (`[tool.uv.sources]`, a path source), and the package refuses to load a
product whose template release (`_commit` in `.copier-answers.yml`) is not the installed
package's version. So a scratch template repository holds the template and the package,
and each of its release commits sets the package's version to the release's.
"""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]

# What a template release holds: the questions, the template, the package a product
# depends on and the scripts copier.yml's migrations run.
RELEASE_PARTS = ("copier.yml", "template", "packages", "migrations")
PACKAGE_PYPROJECT = "packages/dagster-data-product/pyproject.toml"
SKIP_IF_EXISTS = yaml.safe_load((ROOT / "copier.yml").read_text()).get("_skip_if_exists", [])
# Left behind in a checkout by builds, test runs and editors; never part of a release.
BUILD_LEFTOVERS = shutil.ignore_patterns(
    "__pycache__", "*.py[cod]", ".DS_Store", ".venv", ".pytest_cache", ".ruff_cache",
    "*.egg-info", "build", "dist",
)


def git(*args: str, cwd: Path) -> str:
    return run([*GIT, *args], cwd=cwd).stdout


def commit(path: Path, message: str) -> None:
    git("add", "--all", cwd=path)
    git("commit", "--quiet", "--message", message, cwd=path)


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old`; fail loudly when the template moved on."""
    text = path.read_text()
    if text.count(old) != 1:
        pytest.fail(
            f"{path} holds {old!r} {text.count(old)} times instead of once: the template "
            "changed under this scenario, adapt the release or the team's edits"
        )
    path.write_text(text.replace(old, new))


def copy_release_parts(repo: Path) -> None:
    """Put this checkout's working tree of every release part into `repo`, replacing its own."""
    for name in RELEASE_PARTS:
        source, target = ROOT / name, repo / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target, ignore=BUILD_LEFTOVERS)
        elif source.exists():
            shutil.copy2(source, target)


def set_package_version(repo: Path, version: str) -> None:
    """Give dagster-data-product the version of the release about to be tagged."""
    pyproject = repo / PACKAGE_PYPROJECT
    text, count = re.subn(
        r'^version = "[^"]*"$', f'version = "{version}"', pyproject.read_text(), flags=re.MULTILINE
    )
    if count != 1:
        pytest.fail(f"{pyproject} has {count} `version = ...` lines instead of one")
    pyproject.write_text(text)


def release(repo: Path, tag: str) -> None:
    """Commit the template repository as release `tag` (vX.Y.Z) and tag it."""
    set_package_version(repo, tag.removeprefix("v"))
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "--message", f"Release {tag}", cwd=repo)
    git("tag", "--force", tag, cwd=repo)


def product_files(project: Path) -> set[str]:
    """Every file of the product that git would see: tracked, new, but not ignored."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", cwd=project)
    # `uv sync` writes uv.lock; it belongs to the team, never to the template.
    return {name for name in listed.splitlines() if (project / name).is_file()} - {"uv.lock"}


def owned_files(project: Path) -> list[str]:
    """The product's files that copier.yml's `_skip_if_exists` leaves to the team."""
    found = []
    for pattern in SKIP_IF_EXISTS:
        matches = sorted(
            str(path.relative_to(project)) for path in project.glob(pattern.lstrip("/"))
        )
        assert matches, f"_skip_if_exists entry {pattern!r} matches no file of the product"
        found += matches
    return found


def unresolved(project: Path) -> list[str]:
    """What an update left to resolve by hand: `.rej` files, conflict markers, unmerged paths."""
    found = [str(path.relative_to(project)) for path in project.rglob("*.rej")]
    for name in sorted(product_files(project)):
        text = (project / name).read_text(errors="replace")
        if "<<<<<<<" in text or ">>>>>>>" in text:
            found.append(f"conflict markers in {name}")
    found += git("diff", "--name-only", "--diff-filter=U", cwd=project).split()
    return found


def junit_outcomes(report: Path) -> dict[str, str]:
    """Each test case of a JUnit XML report: passed, failed or skipped."""
    from xml.etree import ElementTree

    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[case.get("name")] = "failed" if failed else "skipped" if skipped else "passed"
    return outcomes

"""`copier update` brings a product rendered before the package onto dagster-data-product.

Releases 0.1.0 and 0.2.0 rendered the product's machinery into the product itself
(`src/<product>/contract/`, `product.py`, `warehouse.py`, `defs/dbt/*.py`, `defs/ports/`,
...); the package release declares it in two `defs.yaml` files instead. A scratch clone of
this repository tags those two commits as v0.1.0 and v0.2.0, and this checkout (its working
tree) as v1.0.0 with the package at version 1.0.0. A product rendered at each old release,
committed and edited by its team, is updated to v1.0.0: the machinery must leave, the
declarations arrive, the team's edits stay, and the product must pass its own tests.

Copier deletes a file the new release no longer has, whatever the team changed in it. The
migration of copier.yml keeps the team's version of each such file it had edited in
`.copier-removed/`; the team here edited the old `product.py`.
"""

import sys
from pathlib import Path
from typing import NamedTuple

import copier
import pytest
from conftest import ROOT, git_init, run, uv
from update_support import (
    commit,
    copy_release_parts,
    git,
    junit_outcomes,
    owned_files,
    product_files,
    release,
    replace_once,
    unresolved,
)

# The releases before the package, as commits of this repository (no tags exist).
OLD_RELEASES = {"v0.1.0": "56850a6", "v0.2.0": "282fcf7"}
TARGET = "v1.0.0"
SLUG = "sales_orders"
KEPT = ".copier-removed"

# The machinery the package replaced, as the old releases rendered it.
MACHINERY_OF_BOTH = [
    f"src/{SLUG}/contract",
    f"src/{SLUG}/product.py",
    f"src/{SLUG}/defs/automation.py",
    f"src/{SLUG}/defs/resources.py",
    f"src/{SLUG}/defs/dbt/__init__.py",
    f"src/{SLUG}/defs/dbt/assets.py",
    f"src/{SLUG}/defs/dbt/project.py",
    f"src/{SLUG}/defs/dbt/translator.py",
    f"src/{SLUG}/defs/ports",
    f"src/{SLUG}/defs/upstreams",
]
MACHINERY = {
    "v0.1.0": MACHINERY_OF_BOTH,
    "v0.2.0": [
        *MACHINERY_OF_BOTH,
        f"src/{SLUG}/warehouse.py",
        f"src/{SLUG}/dbt_process.py",
        f"src/{SLUG}/defs/dbt/runner.py",
        "tests/test_engines.py",
    ],
}
DECLARATIONS = [f"src/{SLUG}/defs/product/defs.yaml", f"src/{SLUG}/defs/dbt/defs.yaml"]

# The team's edits.
TEAM_MODEL = "dbt/models/marts/fct_orders.sql"
TEAM_MODEL_COMMENT = "        -- order_date is the customer's calendar day, not the shipping day."
TEAM_CONTRACT_LINE = "    Orders before 2024 come from the legacy shop system, without coupons."
TEAM_README_SECTION = "\n## On call\n\nFailed runs page the sales-data rota in #sales-oncall.\n"
# An edit of the machinery: the release that brings the package deletes this file.
TEAM_MACHINERY = f"src/{SLUG}/product.py"
TEAM_CONSTANT = "\n\n#: Hour (UTC) the shop system exports its orders at.\nEXTRACT_HOUR_UTC = 2\n"


def model_comment(path: Path) -> None:
    anchor = "        order_date,\n"
    replace_once(path, anchor, f"{TEAM_MODEL_COMMENT}\n{anchor}")


def contract_line(path: Path) -> None:
    anchor = "    not real business figures.\n"
    replace_once(path, anchor, f"{anchor}{TEAM_CONTRACT_LINE}\n")


def readme_section(path: Path) -> None:
    # Under the product's description, which every release keeps: a section the team adds
    # next to lines a release rewrites is a conflict for the team to settle, not this test.
    anchor = "published as output ports for other teams.\n"
    replace_once(path, anchor, f"{anchor}{TEAM_README_SECTION}")


def machinery_constant(path: Path) -> None:
    path.write_text(path.read_text() + TEAM_CONSTANT)


# The edits of files a package release still has; the contract is the team's own file.
TEAM_EDITS = {TEAM_MODEL: model_comment, "README.md": readme_section}


def edit_as_the_team(product: Path) -> None:
    for name, edit in TEAM_EDITS.items():
        edit(product / name)
    contract_line(product / "datacontract.yaml")
    machinery_constant(product / TEAM_MACHINERY)
    commit(product, "Document the order date and the legacy orders, add the extract hour")


def render(template: Path, dest: Path, vcs_ref: str) -> Path:
    copier.run_copy(str(template), dest, vcs_ref=vcs_ref, defaults=True, unsafe=True, quiet=True)
    git_init(dest)
    return dest


def copier_update(product: Path, *options: str) -> str:
    """`copier update` as a team runs it; its stderr, where the migration reports."""
    command = [sys.executable, "-m", "copier", "update", "--defaults", "--trust"]
    return run([*command, "--vcs-ref", TARGET, *options], cwd=product).stderr


def in_head(product: Path, name: str) -> bool:
    return bool(git("ls-tree", "-r", "--name-only", "HEAD", "--", name, cwd=product).strip())


# The template's releases -------------------------------------------------------------


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository with the old releases tagged, and this checkout as release v1.0.0."""
    for commit_ in OLD_RELEASES.values():
        found = run(["git", "cat-file", "-e", f"{commit_}^{{commit}}"], cwd=ROOT, check=False)
        if found.returncode != 0:
            pytest.skip(f"commit {commit_} is not in this clone: the test needs full history")
    repo = tmp_path_factory.mktemp("template-history") / "copier-data-product"
    run(["git", "clone", "--quiet", "--no-tags", str(ROOT), str(repo)], cwd=repo.parent)
    for tag, commit_ in OLD_RELEASES.items():
        git("tag", "--force", tag, commit_, cwd=repo)
    # The working tree, so that what is tested is what is about to be committed.
    copy_release_parts(repo)
    release(repo, TARGET)
    return repo


@pytest.fixture(scope="module")
def expected_product(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release v1.0.0 rendered fresh, with the team's edits of the files it still has."""
    product = render(template_repo, tmp_path_factory.mktemp("expected") / "sales-orders", TARGET)
    for name, edit in TEAM_EDITS.items():
        edit(product / name)
    return product


class Updated(NamedTuple):
    path: Path
    old_release: str
    report: str  # what the update printed


@pytest.fixture(scope="module", params=list(OLD_RELEASES))
def updated(
    request: pytest.FixtureRequest, template_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Updated:
    """Rendered at an old release, edited and committed by its team, updated to v1.0.0."""
    old_release = request.param
    product = render(
        template_repo, tmp_path_factory.mktemp(f"from-{old_release}") / "sales-orders", old_release
    )
    edit_as_the_team(product)
    return Updated(product, old_release, copier_update(product))


# The update ---------------------------------------------------------------------------


def test_machinery_leaves_the_product(updated: Updated) -> None:
    for name in MACHINERY[updated.old_release]:
        assert in_head(updated.path, name), f"{updated.old_release} had no {name}: fix the list"
        assert not (updated.path / name).exists(), f"{name} was left behind"


def test_product_declares_itself_to_the_package(
    updated: Updated, expected_product: Path, template_repo: Path
) -> None:
    for name in DECLARATIONS:
        assert (updated.path / name).read_text() == (expected_product / name).read_text(), name
    pyproject = (updated.path / "pyproject.toml").read_text()
    package = template_repo / "packages" / "dagster-data-product"
    assert f'dagster-data-product = {{ path = "{package}", editable = true }}' in pyproject
    answers = (updated.path / ".copier-answers.yml").read_text()
    assert f"\n_commit: {TARGET}\n" in answers


def test_update_is_the_release_plus_the_team_edits(
    updated: Updated, expected_product: Path
) -> None:
    """Every file equals a fresh v1.0.0 render with the team's edits; team-owned ones stay."""
    kept = {name for name in product_files(updated.path) if name.startswith(f"{KEPT}/")}
    assert product_files(updated.path) - kept == product_files(expected_product)
    owned = set(owned_files(updated.path))
    for name in sorted(product_files(expected_product) - owned):
        expected = (expected_product / name).read_text()
        assert (updated.path / name).read_text() == expected, f"{name} differs from v1.0.0"
    for name in owned:
        tracked = run(["git", "cat-file", "-e", f"HEAD:{name}"], cwd=updated.path, check=False)
        if tracked.returncode != 0:
            # New in this release and the team's from now on: rendered as a fresh product has it.
            expected = (expected_product / name).read_text()
            assert (updated.path / name).read_text() == expected, f"{name} differs from v1.0.0"
            continue
        team_version = git("show", f"HEAD:{name}", cwd=updated.path)
        assert (updated.path / name).read_text() == team_version, f"{name} was changed"


def test_team_edits_are_kept(updated: Updated) -> None:
    model = (updated.path / TEAM_MODEL).read_text()
    assert f"{TEAM_MODEL_COMMENT}\n        order_date,\n" in model
    contract = (updated.path / "datacontract.yaml").read_text()
    assert f"    not real business figures.\n{TEAM_CONTRACT_LINE}\n" in contract
    readme = (updated.path / "README.md").read_text()
    assert f"for other teams.\n{TEAM_README_SECTION}\n" in readme
    assert unresolved(updated.path) == []


def test_edited_machinery_is_kept_aside(updated: Updated) -> None:
    """The one machinery file the team edited is kept, listed; the others just leave."""
    kept = sorted(
        str(path.relative_to(updated.path / KEPT))
        for path in (updated.path / KEPT).rglob("*")
        if path.is_file()
    )
    assert kept == [TEAM_MACHINERY]
    team_version = git("show", f"HEAD:{TEAM_MACHINERY}", cwd=updated.path)
    assert team_version.endswith(TEAM_CONSTANT)
    assert (updated.path / KEPT / TEAM_MACHINERY).read_text() == team_version
    assert f"  {TEAM_MACHINERY}\n" in updated.report
    # Left for the team to review, like every change of an update.
    status = git("status", "--porcelain", "--untracked-files=all", cwd=updated.path)
    assert f"?? {KEPT}/{TEAM_MACHINERY}" in status.splitlines()


def test_edited_machinery_leaves_no_reject_file(template_repo: Path, tmp_path: Path) -> None:
    """With `--conflict rej`, Copier writes the team's edit of a deleted file as a .rej."""
    product = render(template_repo, tmp_path / "sales-orders", "v0.2.0")
    edit_as_the_team(product)
    copier_update(product, "--conflict", "rej")
    assert unresolved(product) == []
    assert (product / KEPT / TEAM_MACHINERY).read_text().endswith(TEAM_CONSTANT)


# The updated product runs --------------------------------------------------------------


@pytest.mark.product
@pytest.mark.nightly
def test_updated_product_passes_its_tests(updated: Updated, tmp_path: Path) -> None:
    """The package installs from the template's checkout and loads the updated product,
    once the team has done what the CHANGELOG asks of it for 1.0.0."""
    uv("sync", cwd=updated.path)
    # The ports' dbt files are generated from the team's contract, and the checks they make
    # have new names, which the team's snapshot of the asset graph records.
    written = uv("run", "contract", "dbt", cwd=updated.path)
    assert "wrote dbt/models/marts/fct_orders.yml" in written.stdout, written.stdout
    uv("run", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_definitions.py",
       cwd=updated.path, env={"UPDATE_SNAPSHOTS": "1"})
    report = tmp_path / "product-tests.xml"
    uv("run", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", cwd=updated.path)
    outcomes = junit_outcomes(report)
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes
    for name in ["test_asset_graph_matches_snapshot", "test_every_asset_materializes"]:
        assert outcomes.get(name) == "passed", f"{name} did not run: {sorted(outcomes)}"

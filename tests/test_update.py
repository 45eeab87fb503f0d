"""`copier update` brings template releases into a product without losing the team's edits.

A template repository is built at test time from this checkout's copier.yml, template/ and
packages/ (the dagster-data-product package a product depends on): release v1.0.0 as they
are, then a v2.0.0 that does what real releases do: it changes files, moves one with a
migration and asks a new question. Each release sets the package's version to its own, as
a product loads only with the package of its template release. A product rendered at
v1.0.0, committed and edited by its team, is updated to v2.0.0; the result must equal a
fresh v2.0.0 render with the team's edits applied, file for file.
"""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml
from conftest import git_init, uv
from update_support import (
    SKIP_IF_EXISTS,
    commit,
    copy_release_parts,
    git,
    junit_outcomes,
    owned_files,
    product_files,
    release,
    replace_once,
)

ANSWERS = {"product_name": "Web Shop", "domain": "shop", "owner_team": "shop-data"}
SLUG = "web_shop"

# Where v2.0.0 moves the sources of the staging layer (dbt's `_<source>__sources.yml`).
STAGING_SOURCE = "dbt/models/{% if with_example_pipeline %}staging{% endif %}"
SOURCES_V1 = "dbt/models/staging/__sources.yml"
SOURCES_V2 = "dbt/models/staging/_raw__sources.yml"
SNAPSHOT = "tests/definitions_snapshot.txt"
# Where a product declares itself: the rendered answers the product's machinery reads.
PRODUCT_DEFS = f"src/{SLUG}/defs/product/defs.yaml"
PRODUCT_DEFS_TEMPLATE = "src/{{product_slug}}/defs/product/defs.yaml.jinja"

# What release v2.0.0 brings.
V2_HEADING = "{{ product_name }} data product"
V2_README_LINE = "Template releases reach this product with `uvx copier update --trust`."
V2_MODEL_HEADER = "-- One row per order: the latest delivery of each re-sent order."
V2_SNAPSHOT_HEADER = "# The product's asset graph: refresh it with UPDATE_SNAPSHOTS=1 uv run pytest"
V2_YAML_LINE = "# Reworded by the template in v2.0.0."
NEW_QUESTION = "raw_retention_days"
NEW_QUESTION_DEFAULT = 90
# v2.0.0 renders the new answer into the product's declaration, next to the engine.
V2_RETENTION = "  # Raw extracts stay {{ raw_retention_days }} days in the warehouse, then may go."
RETENTION_LINE = V2_RETENTION.replace("{{ raw_retention_days }}", str(NEW_QUESTION_DEFAULT))

# The migration of a moved file, as docs/updating.md recommends it. By the "after" stage
# Copier has rendered the new release over the product and deleted the old path, but the
# team's last commit still holds their version (an update never commits), so it is
# restored from there. A "before" stage `git mv` would turn every team edit of the file
# into a conflict, because Copier diffs the team's tree against the old release, which
# has the file at its old path. The `.rej` that `--conflict rej` leaves for the old path
# is moot once the file has moved.
MOVE_SOURCES = f"""\
if git cat-file -e "HEAD:./{SOURCES_V1}" 2>/dev/null; then
  git cat-file blob "HEAD:./{SOURCES_V1}" > "{SOURCES_V2}"
fi
rm -f "{SOURCES_V1}.rej"
"""

# The team's edits.
TEAM_MODEL_COMMENT = "        -- order_date is the shop's calendar day, the grain of revenue marts."
TEAM_SOURCES_COMMENT = "  # The shop system exports at 02:00 UTC; rows land in raw by 03:00."
TEAM_README_SECTION = "\n## On call\n\nFailed runs page the shop-data rota in #shop-data-oncall.\n"
# The team's steps queue on the pool the shop's Dagster instance limits, not the rendered one.
TEAM_POOL = "shop_warehouse"
TEAM_MODEL_PATH = "dbt/models/marts/fct_daily_revenue.sql"
TEAM_MODEL = """\
-- Revenue per day, for the finance dashboard.
select
    order_date,
    sum(amount) as revenue

from {{ ref('fct_orders') }}
group by order_date
"""
TEAM_ASSET = "asset shop/fct_daily_revenue"


def prepend(path: Path, line: str) -> None:
    path.write_text(f"{line}\n{path.read_text()}")


# The template's releases -------------------------------------------------------------


def release_v2(repo: Path) -> None:
    """A release like real ones: changed files, a moved file, a new question."""
    template = repo / "template"
    readme = template / "README.md.jinja"
    replace_once(readme, "# {{ product_name }}\n", f"# {V2_HEADING}\n")
    replace_once(readme, "{{ description }}\n", f"{{{{ description }}}}\n\n{V2_README_LINE}\n")
    prepend(template / STAGING_SOURCE / "stg_orders.sql", V2_MODEL_HEADER)
    replace_once(
        template / PRODUCT_DEFS_TEMPLATE,
        "  warehouse: {{ warehouse }}\n",
        f"  warehouse: {{{{ warehouse }}}}\n{V2_RETENTION}\n",
    )
    # The snapshot gains a header, so the product's test learns to skip comment lines.
    replace_once(
        template / "tests" / "test_definitions.py.jinja",
        "SNAPSHOT.read_text().splitlines()",
        '[line for line in SNAPSHOT.read_text().splitlines() if not line.startswith("#")]',
    )
    for pattern in SKIP_IF_EXISTS:
        relative = pattern.lstrip("/")
        source = next(
            (template / name for name in (f"{relative}.jinja", relative)
             if (template / name).is_file()),
            None,
        )
        if source is None:
            pytest.fail(f"_skip_if_exists entry {pattern!r} is no file of template/")
        if relative == SNAPSHOT:
            prepend(source, V2_SNAPSHOT_HEADER)
        elif source.name.endswith((".yaml", ".yaml.jinja", ".yml", ".yml.jinja")):
            source.write_text(source.read_text().rstrip("\n") + f"\n{V2_YAML_LINE}\n")
        else:
            pytest.fail(f"teach release_v2 how to change the team-owned file {pattern!r}")
    git("mv", f"template/{STAGING_SOURCE}/__sources.yml",
        f"template/{STAGING_SOURCE}/_raw__sources.yml", cwd=repo)
    # A plain YAML round trip: comments of the temporary copy do not matter.
    config = yaml.safe_load((repo / "copier.yml").read_text())
    config[NEW_QUESTION] = {
        "type": "int",
        "help": "Days the warehouse keeps raw extracts before they may be pruned",
        "default": NEW_QUESTION_DEFAULT,
    }
    config.setdefault("_migrations", []).append(
        {"version": "v2.0.0", "when": "{{ _stage == 'after' }}", "command": MOVE_SOURCES}
    )
    (repo / "copier.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's template as release v1.0.0, and a v2.0.0 built on it.

    Products rendered from it take the package from its working tree, which is v2.0.0's:
    the updated product and the fresh v2.0.0 render load with it, a v1.0.0 render would not.
    """
    repo = tmp_path_factory.mktemp("template-repo")
    copy_release_parts(repo)
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    for tag, change in (("v1.0.0", None), ("v2.0.0", release_v2)):
        if change:
            change(repo)
        release(repo, tag)
    return repo


# Products -----------------------------------------------------------------------------


def render(template: Path, dest: Path, vcs_ref: str, answers: dict | None = None) -> Path:
    copier.run_copy(
        str(template), dest, data=answers or {}, vcs_ref=vcs_ref,
        defaults=True, unsafe=True, quiet=True,
    )
    return dest


def update(product: Path, **options) -> None:
    copier.run_update(
        product, vcs_ref="v2.0.0", defaults=True, unsafe=True, overwrite=True, quiet=True,
        **options,
    )


def team_edits(sources: str) -> dict[str, Callable[[Path], None]]:
    """What a team does to its product, by file; `sources` is where its sources YAML is."""

    def model_comment(path: Path) -> None:
        anchor = "        cast(ordered_at as date) as order_date,\n"
        replace_once(path, anchor, f"{TEAM_MODEL_COMMENT}\n{anchor}")

    def sources_comment(path: Path) -> None:
        replace_once(path, "sources:\n", f"sources:\n{TEAM_SOURCES_COMMENT}\n")

    def new_model(path: Path) -> None:
        path.write_text(TEAM_MODEL)

    def snapshot(path: Path) -> None:
        # What UPDATE_SNAPSHOTS=1 writes once the new model exists.
        lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        path.write_text("".join(f"{line}\n" for line in sorted([*lines, TEAM_ASSET])))

    def readme_section(path: Path) -> None:
        path.write_text(path.read_text() + TEAM_README_SECTION)

    def own_pool(path: Path) -> None:
        # A value rendered from the answers: the update re-renders this line.
        replace_once(path, f"  pool: {SLUG}_duckdb\n", f"  pool: {TEAM_POOL}\n")

    return {
        "dbt/models/staging/stg_orders.sql": model_comment,
        sources: sources_comment,
        TEAM_MODEL_PATH: new_model,
        SNAPSHOT: snapshot,
        "README.md": readme_section,
        PRODUCT_DEFS: own_pool,
    }


def apply_team_edits(project: Path, sources: str) -> None:
    for name, edit in team_edits(sources).items():
        edit(project / name)


@pytest.fixture(scope="session")
def updated_product(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rendered at v1.0.0, edited and committed by its team, then updated to v2.0.0."""
    product = render(template_repo, tmp_path_factory.mktemp("update") / "web-shop", "v1.0.0",
                     ANSWERS)
    git_init(product)
    apply_team_edits(product, SOURCES_V1)
    commit(product, "Add daily revenue, document the extract, queue on the shop's pool")
    update(product)
    return product


@pytest.fixture(scope="session")
def expected_product(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the update must produce: v2.0.0 rendered fresh, with the team's edits."""
    product = render(template_repo, tmp_path_factory.mktemp("expected") / "web-shop", "v2.0.0",
                     ANSWERS)
    git_init(product)
    apply_team_edits(product, SOURCES_V2)
    return product


def read_at(project: Path, revision: str, name: str) -> str:
    return git("show", f"{revision}:{name}", cwd=project)


def render_of(expected_product: Path, name: str) -> str:
    """The file as v2.0.0 renders it, before the team's edits (the first commit)."""
    return read_at(expected_product, "HEAD", name)


# The update ---------------------------------------------------------------------------


def test_update_is_v2_plus_the_team_edits(updated_product: Path, expected_product: Path) -> None:
    """Every file equals a fresh v2.0.0 render with the team's edits, except team-owned ones."""
    assert product_files(updated_product) == product_files(expected_product)
    owned = set(owned_files(updated_product))
    for name in sorted(product_files(expected_product) - owned):
        assert (updated_product / name).read_text() == (expected_product / name).read_text(), (
            f"{name} differs from v2.0.0 with the team's edits"
        )


def test_team_edits_and_template_changes_meet_in_one_file(updated_product: Path) -> None:
    """The 3-way merge, spelled out on the files both sides changed."""
    model = (updated_product / "dbt/models/staging/stg_orders.sql").read_text()
    assert model.startswith(f"{V2_MODEL_HEADER}\nwith\n")
    assert f"{TEAM_MODEL_COMMENT}\n        cast(ordered_at as date) as order_date,\n" in model

    readme = (updated_product / "README.md").read_text()
    assert readme.startswith("# Web Shop data product\n")
    assert f"\n\n{V2_README_LINE}\n\n" in readme
    assert readme.endswith(TEAM_README_SECTION)

    declaration = (updated_product / PRODUCT_DEFS).read_text()
    assert f"\n  warehouse: duckdb\n{RETENTION_LINE}\n" in declaration
    assert declaration.endswith(f"\n  pool: {TEAM_POOL}\n")
    assert f"{SLUG}_duckdb" not in declaration

    assert (updated_product / TEAM_MODEL_PATH).read_text() == TEAM_MODEL
    definitions_test = (updated_product / "tests/test_definitions.py").read_text()
    assert 'if not line.startswith("#")]' in definitions_test


def test_migration_moves_the_team_file(updated_product: Path) -> None:
    assert not (updated_product / SOURCES_V1).exists()
    moved = (updated_product / SOURCES_V2).read_text()
    assert moved == read_at(updated_product, "HEAD", SOURCES_V1)
    assert f"sources:\n{TEAM_SOURCES_COMMENT}\n" in moved
    # Left for the team to review and commit, like every change of an update.
    status = git("status", "--porcelain", "--untracked-files=all", cwd=updated_product)
    assert f" D {SOURCES_V1}" in status.splitlines()
    assert f"?? {SOURCES_V2}" in status.splitlines()


def test_new_question_takes_its_default(updated_product: Path) -> None:
    answers = yaml.safe_load((updated_product / ".copier-answers.yml").read_text())
    assert answers[NEW_QUESTION] == NEW_QUESTION_DEFAULT
    assert answers["_commit"] == "v2.0.0"
    for name, value in ANSWERS.items():
        assert answers[name] == value
    declaration = (updated_product / PRODUCT_DEFS).read_text()
    assert f"{RETENTION_LINE}\n" in declaration


def test_update_leaves_no_rejects_or_conflicts(updated_product: Path) -> None:
    assert not list(updated_product.rglob("*.rej"))
    for name in product_files(updated_product):
        text = (updated_product / name).read_text()
        assert "<<<<<<<" not in text and ">>>>>>>" not in text, f"conflict in {name}"
    assert git("diff", "--name-only", "--diff-filter=U", cwd=updated_product) == ""


def test_team_owned_files_are_not_touched(updated_product: Path, expected_product: Path) -> None:
    """Every `_skip_if_exists` file keeps the team's version although v2.0.0 changed it."""
    for name in owned_files(updated_product):
        team_version = read_at(updated_product, "HEAD", name)
        assert (updated_product / name).read_text() == team_version, f"{name} was changed"
        first_render = read_at(updated_product, "HEAD~1", name)
        v2_render = render_of(expected_product, name)
        assert v2_render != first_render, f"v2.0.0 does not change {name}: the test proves nothing"
    snapshot = (updated_product / SNAPSHOT).read_text()
    assert TEAM_ASSET in snapshot.splitlines()
    assert V2_SNAPSHOT_HEADER not in snapshot


# Conflicts ----------------------------------------------------------------------------


@pytest.fixture
def renamed_product(template_repo: Path, tmp_path: Path) -> Path:
    """A product at v1.0.0 whose team retitled the README, the line v2.0.0 also changes."""
    product = render(template_repo, tmp_path / "sales-orders", "v1.0.0")
    git_init(product)
    replace_once(product / "README.md", "# Sales Orders\n", "# Sales Orders (EU)\n")
    commit(product, "Retitle the product")
    return product


def test_conflict_is_marked_inline(renamed_product: Path) -> None:
    update(renamed_product, conflict="inline")
    readme = (renamed_product / "README.md").read_text()
    # A base section appears only when git is configured with merge.conflictStyle diff3.
    assert re.search(
        r"^<<<<<<< before updating\n# Sales Orders \(EU\)\n"
        r"(\|\|\|\|\|\|\| last update\n# Sales Orders\n)?"
        r"=======\n# Sales Orders data product\n>>>>>>> after updating\n",
        readme,
        re.MULTILINE,
    ), readme
    assert f"\n\n{V2_README_LINE}\n" in readme, "the rest of the file was not updated"
    assert not list(renamed_product.rglob("*.rej"))
    assert git("diff", "--name-only", "--diff-filter=U", cwd=renamed_product) == "README.md\n"
    declaration = (renamed_product / "src/sales_orders/defs/product/defs.yaml").read_text()
    assert f"\n  warehouse: duckdb\n{RETENTION_LINE}\n" in declaration


def test_conflict_as_reject_file(renamed_product: Path) -> None:
    """`--conflict rej`: the template's line wins in the file, the team's waits in a .rej."""
    update(renamed_product, conflict="rej")
    readme = (renamed_product / "README.md").read_text()
    assert readme.startswith("# Sales Orders data product\n")
    assert "<<<<<<<" not in readme
    reject = (renamed_product / "README.md.rej").read_text()
    assert "-# Sales Orders\n+# Sales Orders (EU)\n" in reject
    assert [path.name for path in renamed_product.rglob("*.rej")] == ["README.md.rej"]


# Recopy -------------------------------------------------------------------------------


def test_recopy_keeps_answers_and_team_files(
    updated_product: Path, expected_product: Path, tmp_path: Path
) -> None:
    """`copier recopy` renders the release afresh: answers, owned and own files stay."""
    product = tmp_path / "web-shop"
    shutil.copytree(
        updated_product, product,
        ignore=shutil.ignore_patterns(".venv", "target", "logs", "__pycache__", ".pytest_cache"),
    )
    commit(product, "Update the template to v2.0.0")
    answers = (product / ".copier-answers.yml").read_text()

    copier.run_recopy(product, defaults=True, overwrite=True, unsafe=True, quiet=True)

    assert (product / ".copier-answers.yml").read_text() == answers
    for name in [*owned_files(product), TEAM_MODEL_PATH]:
        assert (product / name).read_text() == read_at(product, "HEAD", name), name
    # Template files are rendered afresh: the team's edits in them show in `git diff`,
    # to be taken back hunk by hunk.
    changed = git("diff", "--name-only", cwd=product).split()
    assert sorted(changed) == sorted(
        [
            "README.md",
            "dbt/models/staging/stg_orders.sql",
            SOURCES_V2,
            PRODUCT_DEFS,
        ]
    )
    for name in changed:
        assert (product / name).read_text() == render_of(expected_product, name)


# The updated product runs --------------------------------------------------------------


@pytest.mark.product
@pytest.mark.nightly
def test_updated_product_passes_its_tests(updated_product: Path, tmp_path: Path) -> None:
    """Merged files, the moved sources, the team's model and its kept snapshot all work.

    The snapshot lists the team's model, and a materialization succeeds only when dbt
    finds the moved sources and builds every model, the team's included.
    """
    uv("sync", cwd=updated_product)
    report = tmp_path / "product-tests.xml"
    uv("run", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", cwd=updated_product)
    outcomes = junit_outcomes(report)
    assert outcomes and set(outcomes.values()) == {"passed"}, outcomes
    for name in ["test_asset_graph_matches_snapshot", "test_every_asset_materializes"]:
        assert outcomes.get(name) == "passed", f"{name} did not run: {sorted(outcomes)}"

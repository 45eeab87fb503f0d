"""A product's settings: found from any file in it, paths refused when they would split it."""

from pathlib import Path

import dagster as dg
import pytest

from dagster_data_product.automation import refresh_cron
from dagster_data_product.settings import ProductError, asset_owners, product_of
from dagster_data_product.version import VersionMismatch, check_template_version

DEFS = """\
type: dagster_data_product.DataProduct
attributes:
  warehouse: {warehouse}
  automation: cron
  pool: demo_pool
"""


def make_product(root: Path, warehouse: str = "spark", **files: str) -> Path:
    """A folder laid out as a product: pyproject.toml with [tool.dg] and a DataProduct."""
    (root / "src" / "demo" / "defs" / "product").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "demo"\n'
    )
    (root / "src" / "demo" / "defs" / "product" / "defs.yaml").write_text(
        DEFS.format(warehouse=warehouse)
    )
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_product_is_found_from_any_file_inside(tmp_path: Path) -> None:
    root = make_product(tmp_path / "p")
    product = product_of(root / "src" / "demo" / "defs" / "product" / "defs.yaml")
    assert product.root == root.resolve()
    assert (product.warehouse, product.automation, product.pool) == ("spark", "cron", "demo_pool")
    assert product.contract_file == root.resolve() / "datacontract.yaml"
    assert product.dbt_dir == root.resolve() / "dbt"


def test_no_product_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProductError, match=r"no pyproject.toml with a \[tool.dg\] table"):
        product_of(tmp_path)


def test_unknown_warehouse_is_refused_by_name(tmp_path: Path) -> None:
    root = make_product(tmp_path / "p", warehouse="postgres")
    with pytest.raises(ProductError, match="warehouse must be one of duckdb, spark"):
        product_of(root)


def test_relative_and_empty_duckdb_paths_are_refused(tmp_path, monkeypatch) -> None:
    product = product_of(make_product(tmp_path / "p"))
    monkeypatch.setenv("DUCKDB_PATH", "data/other.duckdb")
    with pytest.raises(ValueError, match="DUCKDB_PATH must be an absolute path"):
        product.duckdb_path()
    monkeypatch.setenv("DUCKDB_PATH", "")
    with pytest.raises(ValueError, match="DUCKDB_PATH is set but empty"):
        product.duckdb_path()
    monkeypatch.delenv("DUCKDB_PATH")
    assert product.duckdb_path() == product.root / "data" / "warehouse.duckdb"


@pytest.mark.parametrize(
    ("freshness_hours", "cron"),
    [
        (1, "*/30 * * * *"),
        (2, "0 * * * *"),
        (5, "0 */2 * * *"),
        (24, "0 */12 * * *"),
        (47, "0 */12 * * *"),
        (48, "0 0 * * *"),
        (168, "0 0 * * *"),
    ],
)
def test_ingestion_runs_at_least_twice_per_freshness_window(freshness_hours, cron) -> None:
    assert refresh_cron(freshness_hours) == cron


def test_product_of_another_release_is_refused_naming_both(tmp_path: Path) -> None:
    root = make_product(tmp_path / "p", **{".copier-answers.yml": "_commit: v1.4.0\n"})
    with pytest.raises(VersionMismatch, match=r"template release 1\.4\.0.*dagster-data-product 1\.3\.2.*uv sync"):
        check_template_version(root, installed="1.3.2")
    check_template_version(root, installed="1.4.0")


def test_commits_after_a_release_count_as_that_release(tmp_path: Path) -> None:
    root = make_product(tmp_path / "p", **{".copier-answers.yml": "_commit: v1.4.0-3-gabc1234\n"})
    check_template_version(root, installed="1.4.0")
    with pytest.raises(VersionMismatch):
        check_template_version(root, installed="1.5.0")


def test_a_render_from_an_untagged_commit_names_no_release(tmp_path: Path) -> None:
    root = make_product(tmp_path / "p", **{".copier-answers.yml": "_commit: 1db4d0e\n"})
    check_template_version(root, installed="9.9.9")


@pytest.mark.parametrize(
    ("email", "owners"),
    [
        ("data@example.com", ["team:data", "data@example.com"]),
        ("first.last+x@corp.example.co.uk", ["team:data", "first.last+x@corp.example.co.uk"]),
        # Dagster refuses these as owners: the team alone owns the assets.
        ("data@corp.technology", ["team:data"]),
        ("data@example.engineering", ["team:data"]),
        ("", ["team:data"]),
    ],
)
def test_the_team_owns_assets_with_the_addresses_dagster_takes(email, owners) -> None:
    assert asset_owners("data", email) == owners
    for owner in owners:
        # What Dagster itself checks when an asset spec names an owner.
        dg.AssetSpec("x", owners=[owner])
    if len(owners) == 1 and email:
        with pytest.raises(Exception, match="Invalid owner"):
            dg.AssetSpec("x", owners=[email])

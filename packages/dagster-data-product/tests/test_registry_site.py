"""`contract registry`: every product listed, bad locations reported, the graph, the catalog."""

import os
import subprocess
from pathlib import Path

import intake
import pytest
import yaml
from products import make_product, publish

from dagster_data_product.cli import main as contract
from dagster_data_product.contract.descriptor import DESCRIPTOR_FILE
from dagster_data_product.registry import build_registry


@pytest.fixture
def products(tmp_path: Path) -> Path:
    """orders <- campaigns <- reports, side by side in tmp_path/products."""
    base = tmp_path / "products"
    make_product(base / "orders", "sales", "orders", ports=("orders", "customers"))
    make_product(
        base / "campaigns",
        "marketing",
        "campaigns",
        ports=("campaigns",),
        upstreams=["../orders/datacontract.yaml"],
    )
    make_product(
        base / "reports",
        "finance",
        "reports",
        ports=("revenue",),
        upstreams=["../campaigns/datacontract.yaml"],
    )
    publish(base / "orders", "orders")
    return base


def write_list(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump({"products": list(entries)}))
    return path


def test_good_locations_build_site_and_catalog(products: Path, tmp_path: Path) -> None:
    listing = write_list(
        products / "products.yaml",
        {"path": "orders"},
        {"path": "campaigns"},
        {"path": "reports"},
    )
    out = tmp_path / "site"
    registry = build_registry(listing, out)
    assert registry.errors == [] and registry.duplicates == []
    assert [p.id for p in registry.products] == [
        "sales.orders",
        "marketing.campaigns",
        "finance.reports",
    ]
    edges = {(e.producer, e.consumer, e.port) for e in registry.edges}
    assert edges == {
        ("sales.orders", "marketing.campaigns", "orders"),
        ("sales.orders", "marketing.campaigns", "customers"),
        ("marketing.campaigns", "finance.reports", "campaigns"),
    }
    page = (out / "index.html").read_text()
    assert 'data-from="sales.orders" data-to="marketing.campaigns"' in page
    assert 'data-from="marketing.campaigns" data-to="finance.reports"' in page
    assert "<svg" in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # Each port links to the product's own docs site, relatively.
    assert 'href="../products/orders/site/index.html#port-orders"' in page
    assert "sales-data@example.com" in page and "24 hours" in page
    # The published port shows its time, the others "never".
    orders = next(p for p in registry.products if p.id == "sales.orders")
    published = {port.name: port.published_at for port in orders.ports}
    assert published["orders"] is not None and published["customers"] is None
    assert "never" in page
    catalog = intake.from_yaml_file(str(out / "catalog.yaml"))
    assert sorted(catalog.entries) == [
        "finance.reports.revenue",
        "marketing.campaigns.campaigns",
        "sales.orders.customers",
        "sales.orders.orders",
    ]
    assert catalog["sales.orders.orders"].read()["label"].tolist() == ["a", "b"]


def test_bad_locations_are_reported_and_the_rest_is_built(
    products: Path, tmp_path: Path, capsys
) -> None:
    (products / "empty").mkdir()
    invalid = make_product(products / "invalid", "ops", "invalid")
    (invalid / DESCRIPTOR_FILE).write_text("apiVersion: v1.1.0\nkind: Nope\n")
    unreadable = make_product(products / "locked", "ops", "locked")
    listing = write_list(
        products / "products.yaml",
        {"path": "orders"},
        {"path": "missing"},
        {"path": "empty"},
        {"path": "invalid"},
        {"path": "locked"},
        {"nothing": "here"},
    )
    unreadable.chmod(0)
    try:
        out = tmp_path / "site"
        assert contract(["registry", str(listing), "--out", str(out)]) == 0
        assert contract(["registry", str(listing), "--out", str(out), "--strict"]) == 1
        registry = build_registry(listing, out)
    finally:
        unreadable.chmod(0o755)
    assert [p.id for p in registry.products] == ["sales.orders"] + (
        ["ops.locked"] if os.geteuid() == 0 else []  # root reads any folder
    )
    reasons = {error.location: error.reason for error in registry.errors}
    assert "the folder does not exist" in reasons["missing"]
    assert (
        f"no {DESCRIPTOR_FILE}; the product writes it with `uv run contract descriptor`"
        in (reasons["empty"])
    )
    assert "is not a valid ODPS v1.1.0 descriptor" in reasons["invalid"]
    assert "kind: 'Nope' is not one of ['DataProduct']" in reasons["invalid"]
    if os.geteuid() != 0:
        assert "permission denied" in reasons["locked"]
    assert "needs `path: <folder>` or `git: <url>`" in reasons["{'nothing': 'here'}"]
    page = (out / "index.html").read_text()
    assert page.count('class="error location-error"') == len(registry.errors)
    assert "the folder does not exist" in page
    assert "missing: " in capsys.readouterr().err


def test_an_invalid_contract_behind_a_descriptor_is_an_error(products, tmp_path) -> None:
    contract_file = products / "campaigns" / "datacontract.yaml"
    contract_file.write_text(contract_file.read_text().replace("version: 1.0.0", "version: one"))
    listing = write_list(products / "products.yaml", {"path": "campaigns"})
    registry = build_registry(listing, tmp_path / "site")
    (error,) = registry.errors
    assert "its contract datacontract.yaml does not resolve" in error.reason
    assert "'one' is not a semantic version" in error.reason


def test_two_products_with_one_id_are_both_kept(products: Path, tmp_path: Path) -> None:
    make_product(tmp_path / "elsewhere" / "orders", "sales", "orders", ports=("refunds",))
    listing = write_list(
        products / "products.yaml", {"path": "orders"}, {"path": "../elsewhere/orders"}
    )
    out = tmp_path / "site"
    registry = build_registry(listing, out)
    assert [p.key for p in registry.products] == ["sales.orders", "sales.orders-2"]
    (message,) = registry.duplicates
    assert "product id 'sales.orders' is claimed by 2 locations (orders; ../elsewhere/orders)" in (
        message
    )
    assert "sales.orders-2.refunds" in intake.from_yaml_file(str(out / "catalog.yaml")).entries
    assert 'class="error duplicate"' in (out / "index.html").read_text()
    assert contract(["registry", str(listing), "--out", str(out), "--strict"]) == 1


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_location_is_cloned_at_its_ref(products: Path, tmp_path: Path) -> None:
    """A product read from a bare repository by file:// URL at a tag; its docs site, kept
    in the repository, is copied into the registry."""
    source = products / "campaigns"
    (source / "site").mkdir()
    (source / "site" / "index.html").write_text("<html>campaigns</html>")
    git("init", "--quiet", "--initial-branch=main", cwd=source)
    git("add", "--all", cwd=source)
    git("commit", "--quiet", "-m", "v1", cwd=source)
    git("tag", "v1.0.0", cwd=source)
    bare = tmp_path / "campaigns.git"
    git("clone", "--quiet", "--bare", str(source), str(bare), cwd=tmp_path)
    url = bare.as_uri()
    listing = write_list(
        products / "products.yaml",
        {"path": "orders"},
        {"git": url, "ref": "v1.0.0"},
        {"git": url, "ref": "v9.9.9"},
    )
    out = tmp_path / "site"
    registry = build_registry(listing, out)
    assert [p.id for p in registry.products] == ["sales.orders", "marketing.campaigns"]
    cloned = registry.products[1]
    assert cloned.location == f"{url}@v1.0.0"
    assert cloned.docs == "sites/marketing.campaigns/index.html"
    assert (out / cloned.docs).read_text() == "<html>campaigns</html>"
    assert [(e.producer, e.consumer) for e in registry.edges][0] == (
        "sales.orders",
        "marketing.campaigns",
    )
    (error,) = registry.errors
    assert error.location == f"{url}@v9.9.9" and "git could not fetch it" in error.reason


def test_a_broken_list_is_refused(tmp_path: Path, capsys) -> None:
    listing = tmp_path / "products.yaml"
    listing.write_text("items: []\n")
    assert contract(["registry", str(listing), "--out", str(tmp_path / "site")]) == 1
    assert "needs `products:`" in capsys.readouterr().err

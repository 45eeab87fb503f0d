"""Products others can find: each product's ODPS descriptor, and the registry across them.

A fresh render's dataproduct.odps.yaml is exactly what `contract descriptor` writes. Three
rendered products coupled in a chain A -> B -> C (B names A's contract in
upstream_contracts, C names B's) and one broken location make a registry: the site lists
the three with the graph A -> B -> C, the broken location as an error, the published port
of A with its publish time, and the combined catalog reads it. Headless Chromium keeps a
screenshot of the site in $UI_ARTIFACTS_DIR (else the test's tmp dir).
"""

import os
from pathlib import Path

import copier
import intake
import pytest
import yaml
from conftest import ROOT, git_init, uv
from dagster_data_product.cli import main as contract
from dagster_data_product.contract.descriptor import DESCRIPTOR_FILE, render_descriptor
from dagster_data_product.contract.model import load_contract
from dagster_data_product.settings import _product_at
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from test_ui import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

ANSWER_SETS = [
    {},
    {"with_example_pipeline": False, "warehouse": "spark", "automation": "cron"},
    {
        "product_name": 'Ünïcode: "quoted" & it\'s',
        "description": "Orders: re-sent ones # once, the shop's \"truth\".",
        "warehouse": "snowflake",
    },
]


@pytest.mark.parametrize("answers", ANSWER_SETS, ids=["default", "empty-spark-cron", "odd-text"])
def test_fresh_descriptor_is_what_the_generator_writes(tmp_path: Path, answers: dict) -> None:
    product = tmp_path / "product"
    copier.run_copy(
        str(ROOT), str(product), data=answers, defaults=True, vcs_ref="HEAD", quiet=True
    )
    rendered = (product / DESCRIPTOR_FILE).read_text()
    declared = _product_at(product)
    generated = render_descriptor(
        load_contract(product / "datacontract.yaml"),
        [],
        warehouse=declared.warehouse,
        automation=declared.automation,
    )
    assert rendered == generated


# The chain A -> B -> C ---------------------------------------------------------------

CHAIN = {
    "a": ("sales_orders", {}),
    "b": (
        "web_events",
        {
            "product_name": "Web Events",
            "domain": "marketing",
            "upstream_contracts": ["../sales_orders/datacontract.yaml"],
        },
    ),
    "c": (
        "campaign_reports",
        {
            "product_name": "Campaign Reports",
            "domain": "finance",
            "with_example_pipeline": False,
            "upstream_contracts": ["../web_events/datacontract.yaml"],
        },
    ),
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A, B and C rendered once side by side; B and C pinned; A materialized."""
    root = tmp_path_factory.mktemp("registry")
    products = {}
    for key, (folder, answers) in CHAIN.items():
        product = products[key] = root / folder
        copier.run_copy(
            str(ROOT), str(product), data=answers, defaults=True, vcs_ref="HEAD", quiet=True
        )
        git_init(product)
    for key in ("b", "c"):
        uv("run", "contract", "upstreams", cwd=products[key])
        uv("run", "contract", "check", cwd=products[key])
    # A publishes its ports; B and C stay unpublished, so their ports show "never".
    uv("run", "dg", "launch", "--assets", "*", cwd=products["a"], timeout=600)
    listing = root / "products.yaml"
    listing.write_text(
        yaml.safe_dump(
            {
                "products": [
                    {"path": "sales_orders"},
                    {"path": "web_events"},
                    {"path": "campaign_reports"},
                    {"path": "no_such_product"},
                ]
            }
        )
    )
    products["listing"] = listing
    products["site"] = root / "registry-site"
    return products


@pytest.mark.product
@pytest.mark.nightly
def test_pins_become_input_ports(chain) -> None:
    b = yaml.safe_load((chain["b"] / DESCRIPTOR_FILE).read_text())
    assert {(p["name"], p["contractId"], p["version"]) for p in b["inputPorts"]} == {
        ("orders", "sales.sales_orders", "1.0.0"),
        ("customers", "sales.sales_orders", "1.0.0"),
    }
    c = yaml.safe_load((chain["c"] / DESCRIPTOR_FILE).read_text())
    assert {p["contractId"] for p in c["inputPorts"]} == {"marketing.web_events"}


@pytest.mark.product
@pytest.mark.nightly
def test_registry_lists_the_chain_and_the_broken_location(chain) -> None:
    site = chain["site"]
    assert contract(["registry", str(chain["listing"]), "--out", str(site)]) == 0
    assert contract(["registry", str(chain["listing"]), "--out", str(site), "--strict"]) == 1
    page = (site / "index.html").read_text()
    for product_id in ("sales.sales_orders", "marketing.web_events", "finance.campaign_reports"):
        assert '<section class="product" id="product-' in page
        assert f'data-id="{product_id}"' in page
    # The graph: A -> B -> C.
    assert 'data-from="sales.sales_orders" data-to="marketing.web_events"' in page
    assert 'data-from="marketing.web_events" data-to="finance.campaign_reports"' in page
    assert 'data-from="sales.sales_orders" data-to="finance.campaign_reports"' not in page
    # The broken location, with its reason.
    assert "no_such_product" in page and "the folder does not exist" in page
    # Each port links to its product's own docs site.
    assert 'href="../sales_orders/site/index.html#port-orders"' in page
    # The combined catalog reads every published port; A's are, B's are not.
    catalog = intake.from_yaml_file(str(site / "catalog.yaml"))
    published = [
        name for name in catalog.entries
        if Path(catalog[name].kwargs["data"].url).exists()
    ]
    assert sorted(published) == ["sales.sales_orders.customers", "sales.sales_orders.orders"]
    for name in published:
        assert len(catalog[name].read()) > 0
    assert "marketing.web_events.orders" in catalog.entries


@pytest.mark.product
@pytest.mark.nightly
def test_site_shows_publish_times_in_a_browser(chain, tmp_path: Path) -> None:
    site = chain["site"]
    if not (site / "index.html").exists():
        contract(["registry", str(chain["listing"]), "--out", str(site)])
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.get((site / "index.html").as_uri())
        times = {
            row.get_attribute("data-port"): row.find_element(By.CLASS_NAME, "published").text
            for row in driver.find_elements(By.CSS_SELECTOR, "tr.port")
        }
        assert times["sales.sales_orders.orders"].endswith("UTC")
        assert times["marketing.web_events.orders"] == "never"
        edges = driver.find_elements(By.CSS_SELECTOR, "svg.graph g.edge")
        assert len(edges) == 2 and all(edge.is_displayed() for edge in edges)
        errors = driver.find_elements(By.CSS_SELECTOR, "li.location-error")
        assert len(errors) == 1 and "no_such_product" in errors[0].text
        artifacts = Path(os.environ.get("UI_ARTIFACTS_DIR") or tmp_path)
        artifacts.mkdir(parents=True, exist_ok=True)
        screenshot = artifacts / "registry.png"
        driver.save_screenshot(str(screenshot))
        print(f"\nScreenshot of the registry: {screenshot}")
    finally:
        driver.quit()

"""A rendered product's Dagster UI works in a real browser: its asset graph draws every asset.

`uv run dg dev` serves the default product on a free localhost port and headless Chromium
(Debian's `chromium` and `chromium-driver`, which .ci/run installs) opens its global asset
lineage. A screenshot of the graph is kept as a test artifact: in $UI_ARTIFACTS_DIR when it is
set, else in the test's tmp dir.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import git_init, product_env, uv
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.product

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # A container's small /dev/shm (64 MB by default) crashes Chromium.
    "--disable-dev-shm-usage",
    # The graph is zoomed to fit its width only, so the window is tall enough for its height.
    "--window-size=1600,1800",
]

# Nodes show the last part of an asset key: `sales/raw/orders` is drawn as `orders`.
EXPECTED_ASSETS = [
    "orders", "customers", "products",
    "stg_orders", "stg_customers", "stg_products",
    "fct_orders", "dim_customers",
    "revenue_forecast",
]

# First start: the code server loads the product, building the dbt manifest (no dbt/target yet).
SERVER_START_TIMEOUT = 180
GRAPH_TIMEOUT = 120
SHUTDOWN_GRACE = 30
PLOTS_TIMEOUT = 60
#: Runs of every asset before the UI starts.
PUBLISHES = 2

# Telemetry off keeps dg dev offline; nux off keeps the UI's first-visit newsletter dialog
# from covering the graph.
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


class DagsterUI(NamedTuple):
    url: str
    log: Path
    #: The name of the folder the product was rendered into.
    folder: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole group (uv, dg, webserver, daemon, code servers), SIGKILL stragglers."""
    pgid = process.pid  # start_new_session made the process its group's leader

    def signal_group(sig: int) -> bool:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        return True

    signal_group(signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_GRACE
    # uv exits once dg dev has stopped the processes it started; any left get SIGKILL.
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    while signal_group(0) and time.monotonic() < deadline:
        time.sleep(0.2)
    signal_group(signal.SIGKILL)
    process.wait(timeout=30)


def start_in_new_session(command: list[str], **kwargs) -> subprocess.Popen:
    """Popen in a new session, with SIGINT handled even if this process ignores it.

    dg dev makes SIGTERM do what SIGINT does; a SIGINT ignored here (as in a background job
    of a non-interactive shell) would be inherited and make dg dev ignore SIGTERM too.
    A handled signal is reset to its default in the child, an ignored one is not.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, start_new_session=True, **kwargs)
    finally:
        if previous == signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`dg dev` exited with {process.returncode} before serving {url}:\n"
                        f"{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"`dg dev` did not serve {url} within {SERVER_START_TIMEOUT} s:\n{tail(log)}")


@pytest.fixture(scope="module")
def browser(request, tmp_path_factory: pytest.TempPathFactory) -> webdriver.Chrome:
    """Headless Chromium driven through Debian's chromedriver (never a downloaded one)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    request.addfinalizer(driver.quit)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def dagster_ui(request, copie_session, tmp_path_factory: pytest.TempPathFactory) -> DagsterUI:
    """`dg dev` serving the default product."""
    result = copie_session.copy()
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    git_init(project)
    uv("sync", cwd=project)

    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {**product_env(), "DAGSTER_HOME": str(home)}
    # Two runs on the instance the UI shows: each port is published twice, so each statistic
    # of its profile is a plot of two points.
    for _ in range(PUBLISHES):
        uv("run", "dg", "launch", "--assets", "*", cwd=project, env=env)
    log_path = home / "dg-dev.log"
    port = free_port()
    executable = os.environ.get("UV") or shutil.which("uv")
    with log_path.open("wb") as log:
        process = start_in_new_session(
            [executable, "run", "dg", "dev", "--port", str(port), "--host", "127.0.0.1"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    request.addfinalizer(lambda: stop_process_group(process))
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, log_path)
    return DagsterUI(url, log_path, project.name)


def drawn_names(driver: webdriver.Chrome) -> Counter[str]:
    """The names drawn in the graph, which renders only the nodes inside its viewport."""
    names: Counter[str] = Counter()
    for node in driver.find_elements(By.CSS_SELECTOR, "svg foreignObject"):
        # Only displayed text counts; a collapsed group reads "<group>\n<asset count>".
        text = node.text.strip()
        if text:
            names[text.splitlines()[0].strip()] += 1
    return names


# The title of every chart the page draws: each canvas of the Plots view sits under its
# metadata key, and counts once something is painted on it.
PLOTTED_SCRIPT = """
return Array.from(document.querySelectorAll('canvas')).filter(canvas => {
  if (!canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) return true;
  return false;
}).map(canvas => {
  const title = canvas.parentElement.parentElement.previousElementSibling;
  return title ? title.textContent.trim() : '';
});
"""


def plotted(driver: webdriver.Chrome) -> list[str]:
    try:
        return driver.execute_script(PLOTTED_SCRIPT)
    except WebDriverException:
        return []


def click_button(driver: webdriver.Chrome, label: str) -> bool:
    """Click the first button reading `label`; False while there is none (or it was
    replaced as the page rendered)."""
    try:
        buttons = driver.find_elements(By.XPATH, f"//button[normalize-space(.)='{label}']")
        if buttons:
            buttons[0].click()
            return True
    except WebDriverException:
        pass
    return False


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def defined_names(url: str) -> Counter[str]:
    """The node name of every asset the server defines, from Dagster's GraphQL API."""
    nodes = graphql(url, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    return Counter(node["assetKey"]["path"][-1] for node in nodes)


def test_the_code_location_carries_the_products_name(request) -> None:
    """Rendered into a folder of another name, the product is still `sales_orders` in the
    UI, as its README says."""
    dagster_ui = request.getfixturevalue("dagster_ui")
    assert dagster_ui.folder != "sales_orders"
    workspace = graphql(
        dagster_ui.url, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    )["workspaceOrError"]
    assert [entry["name"] for entry in workspace["locationEntries"]] == ["sales_orders"]


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    path = Path(os.environ["UI_ARTIFACTS_DIR"]) if os.environ.get("UI_ARTIFACTS_DIR") else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_screenshot(driver: webdriver.Chrome, path: Path, what: str) -> None:
    """Save what the browser shows, whether the test passes or not; say where."""
    try:
        driver.save_screenshot(str(path))
        print(f"\nScreenshot of {what}: {path}")
    except WebDriverException as error:
        print(f"\nNo screenshot of {what}: {error}")


def require_chromium() -> None:
    """Fail at once on a machine without Chromium, before any fixture starts a server,
    instead of skipping or erroring the test."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(
            f"Chromium is not installed ({', '.join(missing)} missing): install it with "
            "`apt-get install chromium chromium-driver`, as .ci/run does",
            pytrace=False,
        )


def test_asset_graph_shows_every_asset(request, artifacts_dir: Path) -> None:
    require_chromium()
    browser = request.getfixturevalue("browser")
    dagster_ui = request.getfixturevalue("dagster_ui")

    # The global asset lineage: every asset of every code location.
    browser.get(f"{dagster_ui.url}/asset-groups")
    screenshot = artifacts_dir / "asset-graph.png"
    drawn: Counter[str] = Counter()
    defined: Counter[str] = Counter()
    expanded_at = -float("inf")
    try:
        deadline = time.monotonic() + GRAPH_TIMEOUT
        while True:
            drawn = drawn_names(browser)
            if all(drawn[name] for name in EXPECTED_ASSETS):
                # Assets sharing a name (a raw table and the port publishing it) are
                # separate nodes: each must be drawn.
                defined = defined_names(dagster_ui.url)
                if not defined - drawn:
                    break
            if time.monotonic() > deadline:
                break
            # With several asset groups the global graph opens with every group collapsed.
            # The graph's shortcut for "Expand all groups" (Alt+E) opens them and records
            # that in the URL; it toggles, so it is pressed again only if it did not take.
            if (drawn and "expanded=" not in browser.current_url
                    and time.monotonic() - expanded_at > 5):
                ActionChains(browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
                expanded_at = time.monotonic()
            time.sleep(0.5)
    finally:
        keep_screenshot(browser, screenshot, "the asset graph")

    missing = sorted(((Counter(EXPECTED_ASSETS) | defined) - drawn).elements())
    if missing:
        try:
            page = browser.find_element(By.TAG_NAME, "body").text
        except WebDriverException as error:
            page = f"(unreadable: {error})"
        pytest.fail(
            f"After {GRAPH_TIMEOUT} s the asset graph at {browser.current_url} does not draw "
            f"{missing}; it draws {sorted(drawn.elements())}. Screenshot: {screenshot}\n"
            f"--- page text ---\n{page[:4000]}\n--- dg dev ---\n{tail(dagster_ui.log)}"
        )


def test_a_ports_profile_is_plotted_over_its_publishes(request, artifacts_dir: Path) -> None:
    """Each publish of a port records its column profile as numeric metadata, which the
    asset's Plots view draws over time: one chart per statistic, a point per publish."""
    require_chromium()
    browser = request.getfixturevalue("browser")
    dagster_ui = request.getfixturevalue("dagster_ui")
    published = graphql(
        dagster_ui.url,
        '{ assetOrError(assetKey: {path: ["sales", "published", "orders"]}) { ... on Asset {'
        " assetMaterializations(limit: 10) { metadataEntries { label } } } } }",
    )["assetOrError"]["assetMaterializations"]
    assert len(published) == PUBLISHES
    for materialization in published:
        labels = {entry["label"] for entry in materialization["metadataEntries"]}
        assert {"profile/amount/mean", "profile/order_id/distinct_count"} <= labels

    # The asset's overview shows its latest metadata as a table, or each key over time.
    browser.get(f"{dagster_ui.url}/assets/sales/published/orders?view=overview")
    screenshot = artifacts_dir / "port-profile-plots.png"
    expected = {"dagster/row_count", "profile/amount/mean", "profile/order_id/distinct_count",
                "profile/coupon_code/null_count", "profile/order_date/max"}
    charts: list[str] = []
    try:
        deadline = time.monotonic() + PLOTS_TIMEOUT
        while time.monotonic() < deadline and not click_button(browser, "Plots"):
            time.sleep(0.5)
        while time.monotonic() < deadline:
            charts = plotted(browser)
            if expected <= set(charts):
                break
            time.sleep(0.5)
    finally:
        keep_screenshot(browser, screenshot, "the profile plots of port orders")
    assert expected <= set(charts), (
        f"After {PLOTS_TIMEOUT} s {browser.current_url} draws the charts {sorted(charts)}, "
        f"not {sorted(expected - set(charts))}. Screenshot: {screenshot}\n"
        f"--- page text ---\n{browser.find_element(By.TAG_NAME, 'body').text[:4000]}"
    )

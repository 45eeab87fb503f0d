"""Two products coupled only through a contract, in one Dagster instance.

A producer (domain sales) publishes its ports; a consumer (domain marketing) names the
producer's datacontract.yaml in upstream_contracts. The consumer's graph joins the
producer's under the producer's own keys, its models refresh when the producer
publishes, and a breaking change to the producer's contract stops the consumer at load.
"""

import json
from pathlib import Path

import copier
import duckdb
import pytest
import yaml

from conftest import ROOT, git_init, instance_settings, run, uv, uv_executable

pytestmark = pytest.mark.product

PORT_KEY = "sales/published/orders"
CONSUMER_MODEL = "marketing/stg_sales_orders__orders"
# The consumer's copy of the producer's contract, kept beside its upstreams.yaml.
CONTRACT_COPY = Path("upstreams/sales.sales_orders.datacontract.yaml")

# Runs in the consumer's environment, against the instance both products share.
AUTOMATION_SCRIPT = """
import subprocess, sys
import dagster as dg
from web_events.definitions import defs as lazy_defs

producer_dir, uv = sys.argv[1], sys.argv[2]
model = dg.AssetKey.from_user_string("{model}")
defs = lazy_defs()
instance = dg.DagsterInstance.get()

# The first evaluation only sets the cursor the later ones compare with.
first = dg.evaluate_automation_conditions(defs=defs, instance=instance)

# Everything the consumer has, as its README says to launch it, from the producer's data.
subprocess.run([uv, "run", "dg", "launch", "--assets", "*"], check=True, capture_output=True)
quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
print("quiet", quiet.get_num_requested(model))

# The producer publishes again: a new materialization of the port, nothing else.
subprocess.run([uv, "run", "dg", "launch", "--assets", "{port}"], cwd=producer_dir, check=True,
               capture_output=True)
after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
print("after", after.get_num_requested(model))
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Producer and consumer side by side, installed, sharing one DAGSTER_HOME."""
    root = tmp_path_factory.mktemp("workspace")
    producer, consumer, home = root / "sales_orders", root / "web_events", root / "dagster_home"
    copier.run_copy(str(ROOT), str(producer), defaults=True, vcs_ref="HEAD", quiet=True)
    copier.run_copy(
        str(ROOT),
        str(consumer),
        data={
            "product_name": "Web Events",
            "domain": "marketing",
            "upstream_contracts": ["../sales_orders/datacontract.yaml"],
        },
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    for product in (producer, consumer):
        git_init(product)
        uv("sync", cwd=product)
    # Loading only reads: the consumer's team pins its upstream, keeps a copy of its contract
    # and generates the dbt sources with the command the load's error names, then commits.
    uv("run", "contract", "upstreams", cwd=consumer)
    run(["git", "add", "--all"], cwd=consumer)
    run([*GIT_COMMIT, "Pin the upstream products"], cwd=consumer)
    home.mkdir()
    # The product's own instance settings (the DuckDB pool) apply to the shared instance.
    (home / "dagster.yaml").write_text(instance_settings(producer))
    env = {"DAGSTER_HOME": str(home)}
    # Create the instance's storage once, before processes race to create it.
    uv("run", "python", "-c", "import dagster; dagster.DagsterInstance.get()", cwd=producer, env=env)
    return {"producer": producer, "consumer": consumer, "home": home}


GIT_COMMIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit",
              "--quiet", "--message"]


def test_a_consumer_not_pinned_yet_names_the_command(tmp_path: Path) -> None:
    """Rendered with an upstream, a consumer's load asks for `contract upstreams` (it writes
    nothing itself), and that command makes it load."""
    producer, consumer = tmp_path / "sales_orders", tmp_path / "web_events"
    copier.run_copy(str(ROOT), str(producer), defaults=True, vcs_ref="HEAD", quiet=True)
    copier.run_copy(str(ROOT), str(consumer), defaults=True, vcs_ref="HEAD", quiet=True,
                    data={"product_name": "Web Events", "domain": "marketing",
                          "upstream_contracts": ["../sales_orders/datacontract.yaml"]})
    git_init(consumer)
    checked = uv("run", "dg", "check", "defs", cwd=consumer, check=False)
    output = " ".join((checked.stdout + checked.stderr).split())
    assert checked.returncode != 0
    assert "not pinned yet; run `uv run contract upstreams` and commit what it writes" in output
    assert run(["git", "status", "--porcelain"], cwd=consumer).stdout.strip() in ("", "?? uv.lock")
    uv("run", "contract", "upstreams", cwd=consumer)
    uv("run", "dg", "check", "defs", cwd=consumer)


def dagster_env(workspace) -> dict[str, str]:
    return {"DAGSTER_HOME": str(workspace["home"])}


def test_consumer_joins_the_producers_lineage(workspace) -> None:
    consumer = workspace["consumer"]
    listing = json.loads(uv("run", "dg", "list", "defs", "--json", cwd=consumer).stdout)
    assets = {asset["asset_key"]: asset for asset in listing["assets"]}
    assert PORT_KEY in assets and assets[PORT_KEY]["group_name"] == "upstreams"
    assert {"team": "sales-data"} in assets[PORT_KEY]["owners"]
    assert PORT_KEY in assets[CONSUMER_MODEL]["dependency_keys"]
    # `contract upstreams` pinned the upstream contract in the team's upstreams.yaml.
    (pin,) = yaml.safe_load((consumer / "upstreams.yaml").read_text())["upstreams"]
    assert pin["id"] == "sales.sales_orders" and pin["major"] == 1
    assert pin["ports"]["orders"]["order_id"] == "bigint"
    # And kept a copy of the contract its pins hold against, for an image of the consumer.
    copy = consumer / CONTRACT_COPY
    assert copy.read_text() == (workspace["producer"] / "datacontract.yaml").read_text()


def test_consumer_reads_its_copy_where_the_producers_contract_is_absent(workspace) -> None:
    """An image of the consumer holds the consumer's folder alone: it loads from the copy,
    with the producer's ports where they were; without the copy, the error says what to do."""
    producer, consumer = workspace["producer"], workspace["consumer"]
    sources = consumer / "dbt/models/upstreams/_upstream_sources.yml"
    sources_before = sources.read_text()
    contract_file, hidden = producer / "datacontract.yaml", producer / "datacontract.away"
    copy, hidden_copy = consumer / CONTRACT_COPY, consumer / "contract-copy.away"
    contract_file.rename(hidden)
    try:
        listing = json.loads(uv("run", "dg", "list", "defs", "--json", cwd=consumer).stdout)
        assets = {asset["asset_key"]: asset for asset in listing["assets"]}
        assert PORT_KEY in assets[CONSUMER_MODEL]["dependency_keys"]
        # Read from the copy, the producer's published folder resolves as before.
        assert sources.read_text() == sources_before
        copy.rename(hidden_copy)
        try:
            checked = uv("run", "dg", "check", "defs", cwd=consumer, check=False)
        finally:
            hidden_copy.rename(copy)
    finally:
        hidden.rename(contract_file)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert (
        "datacontract.yaml: the data contract file does not exist, and neither does this "
        f"product's copy of it, {CONTRACT_COPY}. Run `uv run contract upstreams` where the "
        "upstream contract is reachable, and commit the copy." in " ".join(output.split())
    ), output


def test_consumer_passes_its_own_gates_and_tests(workspace) -> None:
    """The consumer's commit of what `contract upstreams` wrote (pins, dbt sources and
    staging models, the copy of the producer's contract) passes its pre-commit hooks
    unchanged, and its own tests pass: they leave out the models that read the producer's
    ports."""
    consumer = workspace["consumer"]
    gates = uv("run", "pre-commit", "run", "--all-files", "--color=never", cwd=consumer, check=False)
    assert gates.returncode == 0, gates.stdout + gates.stderr
    assert run(["git", "status", "--porcelain"], cwd=consumer).stdout == ""
    tests = uv("run", "pytest", "-q", "-p", "no:cacheprovider", cwd=consumer, check=False)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]


def test_consumers_ci_materializes_without_the_producers_data(workspace, tmp_path: Path) -> None:
    """The consumer's CI job materializes on a fresh DuckDB file, where the producer has
    published nothing: it leaves out the models that read the producer's ports."""
    consumer = workspace["consumer"]
    assert not (workspace["producer"] / "data" / "published" / "orders.parquet").exists()
    workflow = yaml.safe_load((consumer / ".github/workflows/ci.yml").read_text())
    (command,) = [s["run"] for s in workflow["jobs"]["dbt"]["steps"] if "dg launch" in s.get("run", "")]
    launched = run(
        ["bash", "-c", command], cwd=consumer, timeout=300,
        env={"DUCKDB_PATH": str(tmp_path / "ci.duckdb"), "PUBLISH_DIR": str(tmp_path / "published")},
    )
    assert "RUN_SUCCESS" in launched.stdout + launched.stderr
    # The consumer's own ports, which do not read the producer's, are published.
    assert sorted(p.name for p in (tmp_path / "published").iterdir()) == [
        "customers.parquet", "orders.parquet",
    ]


def test_unpublished_upstream_is_explained(workspace) -> None:
    # The run fails in the dbt step before dbt runs: the run must still end, and promptly.
    launched = uv(
        "run", "dg", "launch", "--assets", "group:upstreams",
        cwd=workspace["consumer"], env=dagster_env(workspace), check=False, timeout=180,
    )
    output = launched.stdout + launched.stderr
    assert launched.returncode != 0
    assert f"Upstream port {PORT_KEY} of Sales Orders (sales.sales_orders) is not published yet" in output
    assert "Materialize the producer first" in output


def test_consumer_refreshes_when_the_producer_publishes(workspace) -> None:
    producer, consumer = workspace["producer"], workspace["consumer"]
    uv("run", "dg", "launch", "--assets", "*", cwd=producer, env=dagster_env(workspace))
    script = AUTOMATION_SCRIPT.format(model=CONSUMER_MODEL, port=PORT_KEY)
    completed = uv(
        "run", "python", "-c", script, str(producer), uv_executable(),
        cwd=consumer, env=dagster_env(workspace),
    )
    counts = dict(line.split() for line in completed.stdout.splitlines() if line[:5] in ("quiet", "after"))
    # Nothing new upstream: nothing requested. The producer published: the model is requested.
    assert (counts["quiet"], counts["after"]) == ("0", "1"), completed.stdout
    # The consumer's model holds the producer's published rows.
    published = producer / "data" / "published" / "orders.parquet"
    with duckdb.connect(str(consumer / "data" / "warehouse.duckdb"), read_only=True) as conn:
        read = conn.execute("select count(*) from upstreams.stg_sales_orders__orders").fetchone()[0]
        expected = conn.execute(f"select count(*) from read_parquet('{published}')").fetchone()[0]
    assert read == expected > 0


def lineage_events(product: Path) -> list[dict]:
    """The OpenLineage events a product's runs wrote (no transport configured: JSON lines)."""
    path = product / "data" / "lineage" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_consumers_input_is_the_producers_output_in_lineage(workspace) -> None:
    """The dataset the consumer's model reads is, by namespace and name, the one the
    producer's publishing wrote: a lineage backend joins the two products there."""
    producer, consumer = workspace["producer"], workspace["consumer"]
    env = dagster_env(workspace)
    uv("run", "dg", "launch", "--assets", "*", cwd=producer, env=env)
    uv("run", "dg", "launch", "--assets", CONSUMER_MODEL, cwd=consumer, env=env)
    written = {
        (o["namespace"], o["name"])
        for e in lineage_events(producer)
        if e["eventType"] == "COMPLETE" and e["job"]["name"] == "sales.published.orders"
        for o in e["outputs"]
    }
    assert written == {("dataproduct://sales", "sales.published.orders")}
    (read,) = [
        e for e in lineage_events(consumer)
        if e["eventType"] == "COMPLETE" and e["job"]["name"] == "marketing.stg_sales_orders__orders"
    ][-1:]
    assert written <= {(i["namespace"], i["name"]) for i in read["inputs"]}
    assert read["job"]["namespace"] == "dataproduct://marketing"


def test_breaking_upstream_change_stops_the_consumer(workspace) -> None:
    producer, consumer = workspace["producer"], workspace["consumer"]
    contract_file = producer / "datacontract.yaml"
    original = contract_file.read_text()
    contract = yaml.safe_load(original)
    contract["version"] = "2.0.0"
    orders = contract["schema"][0]
    orders["properties"] = [p for p in orders["properties"] if p["name"] != "coupon_code"]
    contract_file.write_text(yaml.safe_dump(contract, sort_keys=False))
    try:
        checked = uv("run", "dg", "check", "defs", cwd=consumer, check=False)
    finally:
        contract_file.write_text(original)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "upstream Sales Orders (sales.sales_orders): pinned major version 1, the contract is now 2.0.0" in output
    assert "upstream Sales Orders (sales.sales_orders), port orders, column coupon_code: gone from the contract" in output
    # A contract that breaks the pins never replaces the consumer's copy.
    assert (consumer / CONTRACT_COPY).read_text() == original

"""Lineage events and column profiles of a port, in process, on a small product.

The product has one output port, `orders`, built by an asset standing in for its dbt model.
Its staging and publishing are the package's own; the model asset reports its lineage with
the helper a team's assets use, and stages the port as the dbt step does.
"""

import json
import socket
from pathlib import Path

import dagster as dg
import duckdb
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dagster_data_product.lineage import asset_lineage, read_events
from dagster_data_product.ports import _publisher, stage_audited
from dagster_data_product.profile import profile
from dagster_data_product.resources import WarehouseResource
from dagster_data_product.settings import product_of
from dagster_data_product.warehouse import DuckDBWarehouse

SPEC = Path(__file__).parent / "openlineage_spec"

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: demo.shop
name: Shop
version: 1.0.0
status: active
domain: demo
team:
  name: demo-data
  members:
    - username: data@example.com
      role: owner
slaProperties:
  - property: freshness
    value: 24
    unit: h
servers:
  - server: published
    type: local
    format: parquet
    path: data/published/{model}.parquet
schema:
  - name: orders
    customProperties:
      - {property: dbtModel, value: fct_orders}
    properties:
      - {name: order_id, logicalType: integer, physicalType: BIGINT, required: true, primaryKey: true}
      - {name: quantity, logicalType: integer, physicalType: INTEGER}
      - {name: order_date, logicalType: date, physicalType: DATE}
      - {name: note, logicalType: string, physicalType: VARCHAR}
"""

DEFS = "type: dagster_data_product.DataProduct\nattributes:\n  pool: demo_pool\n"

MODEL = dg.AssetKey(["demo", "fct_orders"])
PORT = dg.AssetKey(["demo", "published", "orders"])


@pytest.fixture
def product(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "shop"
    (root / "src" / "demo" / "defs" / "product").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        '[tool.dg.project]\nroot_module = "demo"\n'
    )
    (root / "src" / "demo" / "defs" / "product" / "defs.yaml").write_text(DEFS)
    (root / "datacontract.yaml").write_text(CONTRACT)
    # Nothing configures openlineage-python: the events go to the product's data/lineage/.
    for name in list(__import__("os").environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("DUCKDB_PATH", "PUBLISH_DIR", "DBT_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return product_of(root)


def definitions(product, rows: list[tuple]) -> list:
    """The model asset (writing `rows` and staging them) and the port's publishing."""
    port = product.contract.port("orders")

    @dg.asset(key=MODEL)
    def fct_orders(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with asset_lineage(context, product):
            if not rows:
                raise dg.Failure("the source extract is empty")
            with warehouse.connect() as wh:
                wh.conn.execute("create schema if not exists marts")
                values = ", ".join(
                    f"({i}::bigint, {q}::integer, {d}, {n})" for i, q, d, n in rows
                )
                wh.conn.execute(
                    "create or replace table marts.fct_orders as select * from"
                    f" (values {values}) v(order_id, quantity, order_date, note)"
                )
            # As the dbt step does once the model's tests (here: its one check) passed.
            stage_audited(
                context, product, {MODEL: {"order_id_is_unique": True}},
                lambda model: ("marts", model),
            )

    return [fct_orders, _publisher(product, port, "marts", "fct_orders")]


def materialize(product, rows, instance=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        definitions(product, rows),
        resources={"warehouse": WarehouseResource(product_root=str(product.root))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


ROWS_1 = [
    (1, 2, "date '2024-01-01'", "'gift'"),
    (2, 5, "date '2024-01-03'", "null"),
    (3, 5, "date '2024-01-02'", "null"),
]
ROWS_2 = [*ROWS_1, (4, 8, "date '2024-02-01'", "'rush'"), (5, 1, "null", "'rush'")]


# The OpenLineage spec ------------------------------------------------------------------


def _registry() -> Registry:
    resources = []
    for path in SPEC.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT202012)))
    return Registry().with_resources(resources)


def _validate(instance: dict, schema_url: str, registry: Registry) -> None:
    validator = jsonschema.Draft202012Validator({"$ref": schema_url}, registry=registry)
    validator.validate(instance)


def _facets(event: dict):
    yield from event["run"].get("facets", {}).values()
    yield from event["job"].get("facets", {}).values()
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        yield from dataset.get("facets", {}).values()
        yield from dataset.get("inputFacets", {}).values()


def assert_valid(events: list[dict]) -> None:
    """Each event against the spec version its schemaURL names, each facet against its own."""
    registry = _registry()
    for event in events:
        assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json")
        _validate(event, event["schemaURL"], registry)
        for facet in _facets(event):
            _validate(facet, facet["_schemaURL"], registry)


def by_job(events: list[dict]) -> dict[str, list[dict]]:
    jobs: dict[str, list[dict]] = {}
    for event in events:
        jobs.setdefault(event["job"]["name"], []).append(event)
    return jobs


# Tests -----------------------------------------------------------------------------------


def test_every_step_emits_valid_events_joined_by_dataset(product) -> None:
    result = materialize(product, ROWS_1)
    assert result.success
    events = read_events(product.root / "data" / "lineage")
    assert_valid(events)
    jobs = by_job(events)
    assert {name: [e["eventType"] for e in evs] for name, evs in jobs.items()} == {
        "demo.fct_orders": ["START", "COMPLETE"],
        "demo.fct_orders.contract_checks": ["START", "COMPLETE"],
        "demo.published.orders": ["START", "COMPLETE"],
    }
    publish = jobs["demo.published.orders"][-1]
    assert publish["job"]["namespace"] == "dataproduct://demo"
    assert publish["job"]["facets"]["ownership"]["owners"] == [
        {"name": "team:demo-data", "type": "team"}, {"name": "data@example.com", "type": "user"}
    ]
    assert publish["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
    (source,) = publish["inputs"]
    (port,) = publish["outputs"]
    assert (source["namespace"], source["name"]) == ("dataproduct://demo", "demo.fct_orders")
    assert (port["namespace"], port["name"]) == ("dataproduct://demo", "demo.published.orders")
    assert [(f["name"], f["type"]) for f in port["facets"]["schema"]["fields"]] == [
        ("order_id", "BIGINT"), ("quantity", "INTEGER"), ("order_date", "DATE"), ("note", "VARCHAR")
    ]
    lineage = port["facets"]["columnLineage"]["fields"]["quantity"]["inputFields"]
    assert [(f["name"], f["field"]) for f in lineage] == [("demo.fct_orders", "quantity")]
    (published,) = port["facets"]["symlinks"]["identifiers"]
    assert published == {
        "namespace": "file", "type": "FILE",
        "name": str(product.root / "data" / "published" / "orders.parquet"),
    }
    # What the model's step wrote is what publishing read.
    model_output = jobs["demo.fct_orders"][-1]["outputs"][0]
    assert (model_output["namespace"], model_output["name"]) == (
        source["namespace"], source["name"])
    checks = jobs["demo.fct_orders.contract_checks"][-1]["inputs"][0]["inputFacets"]
    assert all(a["success"] for a in checks["dataQualityAssertions"]["assertions"])


def test_a_failed_step_emits_fail_with_its_error(product) -> None:
    result = materialize(product, [])
    assert not result.success
    events = read_events(product.root / "data" / "lineage")
    assert_valid(events)
    model = by_job(events)["demo.fct_orders"]
    assert [e["eventType"] for e in model] == ["START", "FAIL"]
    assert model[0]["run"]["runId"] == model[1]["run"]["runId"]
    error = model[1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "the source extract is empty"
    assert error["programmingLanguage"] == "PYTHON" and "Failure" in error["stackTrace"]
    # Nothing downstream ran, so nothing else was reported.
    assert set(by_job(events)) == {"demo.fct_orders"}


def test_profile_counts_a_small_table_on_duckdb(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute(
            "create table t as select * from (values (1, 2.5, date '2024-01-01', 'a'),"
            " (2, null, date '2024-01-03', 'a'), (2, 4.5, null, null)) v(id, amount, day, tag)"
        )
        wh = DuckDBWarehouse(conn)
        columns = wh.columns("main", "t")
        values = profile(wh, "t", columns)
    assert values == {
        "dagster/row_count": 3,
        "profile/id/null_count": 0, "profile/id/distinct_count": 2,
        "profile/id/min": 1.0, "profile/id/max": 2.0, "profile/id/mean": pytest.approx(5 / 3),
        "profile/amount/null_count": 1, "profile/amount/distinct_count": 2,
        "profile/amount/min": 2.5, "profile/amount/max": 4.5, "profile/amount/mean": 3.5,
        "profile/day/null_count": 1, "profile/day/distinct_count": 2,
        "profile/day/min": 1704067200.0, "profile/day/max": 1704240000.0,
        "profile/tag/null_count": 1, "profile/tag/distinct_count": 1,
    }


def test_two_publishes_give_two_profile_points(product) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert materialize(product, ROWS_1, instance).success
    assert materialize(product, ROWS_2, instance).success
    records = instance.fetch_materializations(PORT, limit=10, ascending=True).records
    points = [
        {k: v.value for k, v in r.asset_materialization.metadata.items() if k != "path"}
        for r in records
    ]
    assert len(points) == 2
    first, second = points
    assert (first["dagster/row_count"], second["dagster/row_count"]) == (3, 5)
    assert (first["profile/note/null_count"], second["profile/note/null_count"]) == (2, 2)
    assert (first["profile/note/distinct_count"], second["profile/note/distinct_count"]) == (1, 2)
    assert (first["profile/quantity/max"], second["profile/quantity/max"]) == (5, 8)
    assert (first["profile/quantity/mean"], second["profile/quantity/mean"]) == (4, 4.2)
    assert second["profile/order_date/null_count"] == 1
    assert second["profile/order_date/max"] == 1706745600.0  # 2024-02-01
    assert "profile/note/min" not in second  # strings: counts only


def test_a_lineage_backend_that_is_down_warns_and_the_run_goes_on(
    product, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "1")
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(product, ROWS_1, instance)
    assert result.success
    assert (product.root / "data" / "published" / "orders.parquet").exists()
    warnings = [
        entry.user_message for entry in instance.all_logs(result.run_id)
        if "Lineage backend unavailable" in (entry.user_message or "")
    ]
    assert len(warnings) == 1, warnings  # once per process, not once per event
    kept = (product.root / "data" / "lineage" / "undelivered.jsonl").read_text().splitlines()
    assert len(kept) == 6
    assert not (product.root / "data" / "lineage" / "events.jsonl").exists()


def test_the_docs_draw_each_ports_profile_history(product, monkeypatch) -> None:
    """The docs site reads the product's own instance (storage in .dagster/) and draws one
    chart per column and statistic; without an instance it says there is no history yet."""
    from dagster_data_product.contract.docs import render_contract_page
    from dagster_data_product.contract.history import profile_history

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert profile_history(product) is None
    page = render_contract_page(product.contract, [], None)
    assert "no history yet" in page and "<svg" not in page

    (product.root / "dagster.yaml").write_text(
        "storage:\n  sqlite:\n    base_dir: .dagster/storage\n"
    )
    (product.root / ".dagster").mkdir()
    monkeypatch.chdir(product.root)
    instance = dg.DagsterInstance.from_config(str(product.root))
    assert materialize(product, ROWS_1, instance).success
    assert materialize(product, ROWS_2, instance).success
    instance.dispose()
    monkeypatch.chdir(product.root.parent)  # the docs command runs from anywhere

    history = profile_history(product)
    (first, second) = history["orders"]
    assert first.timestamp < second.timestamp
    assert (first.values["dagster/row_count"], second.values["dagster/row_count"]) == (3, 5)
    page = render_contract_page(product.contract, [], history)
    assert "2 publishes" in page
    # The row count; 5 statistics of each number, 4 of the date, 2 of the string.
    assert page.count('<svg class="spark"') == 1 + 5 + 5 + 4 + 2
    assert "<title>note distinct_count: 1, 2</title>" in page


def test_openlineage_disabled_emits_nothing(product, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert materialize(product, ROWS_1).success
    assert not (product.root / "data" / "lineage").exists()

"""dbt on a thread of this process (dbt/runner.py): what dagster-dbt reads of the warehouse."""

from pathlib import Path

import pytest

from dagster_data_product.dbt.runner import DbtThread, _close, _ExistingRelations

PROJECT = """\
name: shop
version: "1.0.0"
profile: shop
models:
  shop:
    marts:
      +schema: marts
"""

PROFILE = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
"""

MODELS = {
    # Decimal, nested and mixed-case names, in an order that is not alphabetical.
    "staging/stg_orders.sql": (
        "select 1 as zeta, cast(2.5 as decimal(18, 3)) as \"Amount\","
        " {'x': 1, 'y': ['a']} as nested, date '2026-01-01' as ordered_on"
    ),
    "staging/stg_people.sql": "{{ config(materialized='view') }} select 'ann' as name",
    "marts/\"MixedCase\".sql": "select * from {{ ref('stg_orders') }}",
    "marts/fct_orders.sql": (
        "select o.zeta, o.\"Amount\", p.name from {{ ref('stg_orders') }} o,"
        " {{ ref('stg_people') }} p"
    ),
}


class _Counting:
    """An adapter whose queries are counted."""

    def __init__(self, adapter):
        self._adapter = adapter
        self.queries = 0

    def execute(self, *args, **kwargs):
        self.queries += 1
        return self._adapter.execute(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._adapter, name)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """The project built by dbt on a thread, and the adapter that thread registered."""
    root = tmp_path_factory.mktemp("shop")
    (root / "dbt_project.yml").write_text(PROJECT)
    (root / "profiles.yml").write_text(PROFILE.format(path=root / "shop.duckdb"))
    for name, sql in MODELS.items():
        path = root / "models" / name.replace('"', "")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    location = ["--project-dir", str(root), "--profiles-dir", str(root)]
    dbt = DbtThread(["build", *location, "--target-path", str(root / "target")])
    assert dbt.wait() == 0, b"\n".join(dbt.stdout).decode()
    adapter = dbt.wait_for_adapter()
    assert adapter is not None
    yield adapter
    _close(adapter)


def relations(adapter, names: list[tuple[str, str]]):
    database = Path(adapter.config.credentials.path).stem
    return [
        adapter.Relation.create(database=database, schema=schema, identifier=name)
        for schema, name in names
    ]


def test_a_schemas_columns_come_from_one_query_and_match_describe(built) -> None:
    counting = _Counting(built)
    wrapped = _ExistingRelations(counting)
    names = [
        ("main", "stg_orders"),
        ("main", "stg_people"),
        ("main_marts", "MixedCase"),
        ("main_marts", "mixedcase"),
        ("main_marts", "fct_orders"),
    ]
    with built.connection_named("columns"):
        for relation in relations(built, names):
            expected = built.get_columns_in_relation(relation)
            assert expected, relation
            got = wrapped.get_columns_in_relation(relation)
            assert [(c.name, c.dtype) for c in got] == [(c.name, c.dtype) for c in expected]
            assert [type(c) for c in got] == [type(c) for c in expected]
    # One catalog query for each of the two schemas, however many relations were asked for.
    assert counting.queries == 2
    assert [c.dtype for c in got] == ["INTEGER", "DECIMAL(18,3)", "VARCHAR"]


def test_a_relation_that_was_never_built_is_reported_without_a_query_of_its_own(built) -> None:
    counting = _Counting(built)
    wrapped = _ExistingRelations(counting)
    with built.connection_named("columns"):
        (missing,) = relations(built, [("dbt_test__audit", "not_null_stg_orders_zeta")])
        with pytest.raises(LookupError, match="does not exist"):
            wrapped.get_columns_in_relation(missing)
        (other,) = relations(built, [("main", "never_built")])
        with pytest.raises(LookupError, match="never_built"):
            wrapped.get_columns_in_relation(other)
        wrapped.get_columns_in_relation(relations(built, [("main", "stg_orders")])[0])
    assert counting.queries == 2

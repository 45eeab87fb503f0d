"""Write-audit-publish on DuckDB: a run publishes exactly the snapshot it audited, and the
profile it records is that snapshot's.

Runs overlap: the pool serialises steps, not runs, so another run may rebuild a port's
model between this run's dbt step (which tests the model, then snapshots it) and its
publish. These tests drive the warehouse the way those steps do, with such a rebuild in
between; the product's own suite runs the whole sequence with dbt.
"""

import json
import os
from pathlib import Path

import duckdb
import pytest

from dagster_data_product.profile import profile, profile_query
from dagster_data_product.warehouse import PROFILE_KEY, DuckDBWarehouse


def build_mart(conn, quantities: list[int]) -> None:
    """What dbt's build of the port's model does: replace the table."""
    conn.execute("create schema if not exists marts")
    rows = ", ".join(f"({i}::bigint, {q}::integer)" for i, q in enumerate(quantities, 1))
    conn.execute(f"create or replace table marts.fct_orders as select * from (values {rows}) v(order_id, quantity)")


@pytest.fixture
def warehouse(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        yield DuckDBWarehouse(conn)


def published_quantities(path: Path) -> list[int]:
    return [q for (q,) in duckdb.sql(f"select quantity from read_parquet('{path}') order by 1").fetchall()]


def test_a_rebuild_between_audit_and_publish_is_not_published(warehouse, tmp_path: Path) -> None:
    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [1, 2, 3])
    # Run A's dbt step tested the model and snapshots it before it ends.
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-a")
    # Another run rebuilds the model with a row that breaks the contract's rule.
    build_mart(warehouse.conn, [1, 2, 0])
    warehouse.promote(staged)
    assert published_quantities(target) == [1, 2, 3]


def test_a_discarded_snapshot_never_replaces_the_port(warehouse, tmp_path) -> None:
    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [1, 2, 3])
    warehouse.promote(warehouse.stage("marts", "fct_orders", "orders", target, "run-a"))
    before = target.read_bytes()
    build_mart(warehouse.conn, [1, 2, 0])
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-b")
    warehouse.discard(staged)
    assert target.read_bytes() == before
    assert warehouse.staged("orders", target, "run-b") is None
    assert sorted(p.name for p in target.parent.iterdir()) == ["orders.parquet"]


def test_leftovers_of_a_dead_run_are_removed_by_the_next_stage(warehouse, tmp_path) -> None:
    target = tmp_path / "published" / "orders.parquet"
    target.parent.mkdir()
    dead = target.with_name(".orders.parquet.deadrun.audit")
    dead.write_bytes(b"half a file" * 1000)
    old_style = target.with_name(".orders.parquet.0123abcd.tmp")
    old_style.write_bytes(b"x")
    other_port = target.with_name(".customers.parquet.deadrun.audit")
    other_port.write_bytes(b"y")
    build_mart(warehouse.conn, [1, 2, 3])
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-c")
    assert not dead.exists() and not old_style.exists()
    assert other_port.exists(), "another port's snapshot is not this port's to remove"
    assert warehouse.staged("orders", target, "run-c") is not None
    warehouse.promote(staged)
    assert sorted(p.name for p in target.parent.iterdir()) == [other_port.name, "orders.parquet"]


def test_promote_makes_the_rename_durable(warehouse, tmp_path, monkeypatch) -> None:
    """The directory is synced after the rename, not only the file before it."""
    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [1])
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-d")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    warehouse.promote(staged)
    assert str(target.parent) in synced


def snapshot_profile(warehouse, staged) -> dict:
    """The profile counted from the snapshot file itself, every distinct count included."""
    return profile(warehouse, staged.relation, warehouse.staged_columns(staged))


def test_staging_profiles_the_port_and_the_file_carries_it(warehouse, tmp_path) -> None:
    """The profile taken from the table while staging is the snapshot's, exactly; it is
    in the snapshot's footer, and in the published file after the rename."""
    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [3, 1, 3, 2])
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-e", ("order_id",))
    build_mart(warehouse.conn, [9, 9])  # another run's rebuild: not what was staged
    recorded = warehouse.staged_profile(staged, ("order_id",))
    assert recorded == snapshot_profile(warehouse, staged)
    assert recorded["dagster/row_count"] == 4
    assert recorded["profile/order_id/distinct_count"] == 4
    assert recorded["profile/quantity/distinct_count"] == 3
    assert recorded["profile/quantity/max"] == 3
    warehouse.promote(staged)
    (footer,) = warehouse.conn.execute(
        "select decode(value) from parquet_kv_metadata(?) where decode(key) = ?",
        [str(target), PROFILE_KEY],
    ).fetchone()
    assert json.loads(footer) == recorded


def test_a_snapshot_without_a_profile_is_profiled_when_published(warehouse, tmp_path) -> None:
    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [3, 1, 3])
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-f", profiled=False)
    assert warehouse.conn.execute(
        "select count(*) from parquet_kv_metadata(?)", [str(staged.location)]
    ).fetchone() == (0,)
    assert warehouse.staged_profile(staged, ("order_id",)) == snapshot_profile(warehouse, staged)


def test_a_unique_columns_distinct_count_is_its_non_null_count(warehouse) -> None:
    """What the audit proved is not counted again, and the count is still exact."""
    warehouse.conn.execute(
        "create table t as select * from (values (1, 'a'), (2, 'a'), (null, 'b'), (4, null))"
        " v(code, tag)"
    )
    columns = warehouse.columns("main", "t")
    sql, _ = profile_query("t", columns, warehouse.quote, unique=("code",))
    assert 'count(distinct "code")' not in sql and 'count(distinct "tag")' in sql
    shortcut = profile(warehouse, "t", columns, unique=("code",))
    assert shortcut == profile(warehouse, "t", columns)
    assert (shortcut["profile/code/null_count"], shortcut["profile/code/distinct_count"]) == (1, 3)


def test_the_profile_and_the_snapshot_see_one_version_of_the_table(
    warehouse, tmp_path, monkeypatch
) -> None:
    """A rebuild committed between the profile and the copy (another connection of the
    same process) reaches neither: both read the table as the staging transaction began."""
    import dagster_data_product.warehouse as module

    target = tmp_path / "published" / "orders.parquet"
    build_mart(warehouse.conn, [3, 1, 3, 2])
    other = warehouse.conn.cursor()

    def profile_then_rebuild(*args, **kwargs):
        values = profile(*args, **kwargs)
        build_mart(other, [9, 9])
        return values

    monkeypatch.setattr(module, "profile", profile_then_rebuild)
    staged = warehouse.stage("marts", "fct_orders", "orders", target, "run-g", ("order_id",))
    assert [q for (q,) in other.execute("select quantity from marts.fct_orders").fetchall()] == [9, 9]
    assert published_quantities(staged.location) == [1, 2, 3, 3]
    assert warehouse.staged_profile(staged)["dagster/row_count"] == 4

"""A step waits for the DuckDB file while another process has it open, then fails clearly."""

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagster_data_product.warehouse import DUCKDB_LOCK_TIMEOUT, open_duckdb

#: Opens the file, says so, and keeps it open for the given seconds.
HOLD = """\
import sys, time
import duckdb
conn = duckdb.connect(sys.argv[1])
conn.sql("create or replace table held as select 1 as one")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_step_waits_for_the_file_another_process_holds(tmp_path, caplog) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = hold(path, 2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        conn = open_duckdb(path)
    waited = time.monotonic() - started
    try:
        assert holder.wait(timeout=30) == 0
        assert conn.sql("select one from held").fetchall() == [(1,)]
    finally:
        conn.close()
    assert waited > 0.5, "the file was open elsewhere: the connection should have waited"
    assert f"{path} is open in process {holder.pid}; waiting" in caplog.text


def test_after_the_timeout_the_error_names_the_file_and_its_holder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(DUCKDB_LOCK_TIMEOUT, "0.5")
    path = tmp_path / "warehouse.duckdb"
    holder = hold(path, 60)
    try:
        with pytest.raises(RuntimeError) as raised:
            open_duckdb(path)
    finally:
        holder.kill()
        holder.wait()
    message = str(raised.value)
    assert f"The DuckDB file {path} is still open in process {holder.pid} after 0.5 s" in message
    assert "raise DUCKDB_LOCK_TIMEOUT" in message


def test_a_file_nobody_holds_opens_at_once(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        conn = open_duckdb(tmp_path / "warehouse.duckdb")
    conn.close()
    assert "waiting" not in caplog.text


def test_a_timeout_that_is_not_a_number_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(DUCKDB_LOCK_TIMEOUT, "soon")
    with pytest.raises(ValueError, match="DUCKDB_LOCK_TIMEOUT is 'soon': it must be a number"):
        open_duckdb(tmp_path / "warehouse.duckdb")

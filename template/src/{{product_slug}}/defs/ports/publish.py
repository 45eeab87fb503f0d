"""Writing a port's Parquet file so that readers only ever see a complete, checked version."""

import os
import uuid
from pathlib import Path

import duckdb


def publish_table(conn: duckdb.DuckDBPyConnection, table: str, target: Path) -> int:
    """Write `table` to `target` atomically and return the number of rows published.

    The rows go to a hidden file beside the target, are flushed to disk and read back
    (the audit: the file must be complete Parquet with every row), and only then replace
    the target with a rename. A crash or an error at any point leaves the previous file
    as it was; a reader sees either the old version or the new one, never a mix.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        conn.execute(f"copy (select * from {table}) to '{staging}' (format parquet)")
        with open(staging, "rb") as written:
            os.fsync(written.fileno())
        published = conn.execute(f"select count(*) from read_parquet('{staging}')").fetchone()[0]
        expected = conn.execute(f"select count(*) from {table}").fetchone()[0]
        if published != expected:
            raise RuntimeError(f"{staging} holds {published} rows, {table} has {expected}")
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return published

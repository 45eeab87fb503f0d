"""The column profile of an output port, computed by the engine in one query.

Every publish records, per column, its null count and distinct count, and for numbers and
dates its minimum and maximum (and mean for numbers), with the row count. The query is plain
aggregate SQL (count, count distinct, min, max, avg) that every engine runs; it reads the
snapshot the run audited (on DuckDB, the model's table, in the transaction that copies it
to the snapshot), so the profile describes exactly what was published. A column the audit
has just proved unique has as many distinct values as non-null ones, so its distinct values
are not counted again: on a large port that count is the query's most expensive part. Dates and
timestamps are recorded as Unix time in seconds, so that every value is a number Dagster can
plot over time. This module does not import Dagster.
"""

import re
from collections.abc import Collection
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

#: Metadata key of one statistic of one column: `profile/<column>/<statistic>`.
PREFIX = "profile"
ROW_COUNT = "dagster/row_count"
STATISTICS = ("null_count", "distinct_count", "min", "max", "mean")

_NUMERIC = re.compile(
    r"^(u?(tiny|small|big|huge)?int(eger)?\d*|long|short|byte|decimal|numeric|number|"
    r"bignumeric|double|float\d*|real)\b",
)
_TEMPORAL = re.compile(r"^(date|datetime|timestamp)")


def kind_of(column_type: str) -> str:
    """"number", "date" or "other", from a column type as the engine reports it."""
    text = column_type.strip().lower()
    if _NUMERIC.match(text):
        return "number"
    if _TEMPORAL.match(text):
        return "date"
    return "other"


#: Each engine's approximate distinct count (HyperLogLog), for `profile(distinct="approx")`.
APPROX_DISTINCT = {
    "duckdb": "approx_count_distinct",
    "spark": "approx_count_distinct",
    "snowflake": "approx_count_distinct",
    "bigquery": "approx_count_distinct",
    "trino": "approx_distinct",
}


def metadata_key(column: str, statistic: str) -> str:
    return f"{PREFIX}/{column}/{statistic}"


def profile_query(
    relation: str, columns: list[tuple[str, str]], quote, approx_distinct: str | None = None,
    unique: Collection[str] = (),
) -> tuple[str, list[tuple[str, str]]]:
    """The one query profiling `relation`, and the (metadata key, kind) of each value after
    the first (the row count). `approx_distinct` names the engine's approximate distinct
    count function to use instead of the exact `count(distinct ...)`; a column in `unique`
    has as many distinct values as non-null ones, so it is counted once, not twice."""
    selects, keys = ["count(*)"], []
    for name, column_type in columns:
        kind, q = kind_of(column_type), quote(name)
        if name in unique:
            distinct = f"count({q})"
        else:
            distinct = f"{approx_distinct}({q})" if approx_distinct else f"count(distinct {q})"
        selects += [f"count({q})", distinct]
        # The null count is count(*) - count(col), computed from the first two values.
        keys += [(metadata_key(name, "non_null"), "count"),
                 (metadata_key(name, "distinct_count"), "count")]
        if kind in ("number", "date"):
            selects += [f"min({q})", f"max({q})"]
            keys += [(metadata_key(name, "min"), kind), (metadata_key(name, "max"), kind)]
        if kind == "number":
            selects.append(f"avg({q})")
            keys.append((metadata_key(name, "mean"), kind))
    return f"select {', '.join(selects)} from {relation}", keys


def _number(value: Any, kind: str) -> float | int | None:
    if value is None:
        return None
    if kind == "count":
        return int(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=timezone.utc).timestamp()
    if isinstance(value, (Decimal, int, float)):
        return float(value)
    return None


def profile(
    warehouse: Any, relation: str, columns: list[tuple[str, str]], distinct: str = "exact",
    unique: Collection[str] = (),
) -> dict[str, float]:
    """Row count and per-column statistics of `relation`, as metadata values (numbers only).

    A statistic with no value (the minimum of a column of nulls) is left out. `distinct` is
    "exact" (count(distinct ...), what publishing records) or "approx" (the engine's
    HyperLogLog estimate, a few percent off, much cheaper on large columns). `unique` names
    the columns whose non-null values are known to be unique (the port's audit has just
    proved it): their distinct count is their non-null count, exact without counting
    distinct values.
    """
    approx = APPROX_DISTINCT[warehouse.engine] if distinct == "approx" else None
    sql, keys = profile_query(relation, columns, warehouse.quote, approx, unique)
    row = list(warehouse.rows(sql)[0])
    rows = int(row[0])
    values: dict[str, float] = {ROW_COUNT: rows}
    for (key, kind), value in zip(keys, row[1:]):
        number = _number(value, kind)
        if key.endswith("/non_null"):
            values[key[: -len("non_null")] + "null_count"] = rows - int(number or 0)
        elif number is not None:
            values[key] = number
    return values

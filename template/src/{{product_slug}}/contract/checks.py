"""The checks a contract implies for one output port, as SQL any DuckDB connection runs.

Each check counts something in the port's table and compares the count with what the
contract allows; the schema check compares the table's columns and types instead.
"""

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import Column, Port, QualityRule

# Spellings of the same physical type; the contract and dbt may use any of them.
_TYPE_ALIASES = {
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "SIGNED": "INTEGER",
    "INT8": "BIGINT",
    "LONG": "BIGINT",
    "INT2": "SMALLINT",
    "SHORT": "SMALLINT",
    "STRING": "VARCHAR",
    "TEXT": "VARCHAR",
    "CHAR": "VARCHAR",
    "BPCHAR": "VARCHAR",
    "BOOL": "BOOLEAN",
    "LOGICAL": "BOOLEAN",
    "FLOAT8": "DOUBLE",
    "DOUBLE PRECISION": "DOUBLE",
    "FLOAT4": "FLOAT",
    "REAL": "FLOAT",
    "NUMERIC": "DECIMAL",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
}


def normalize_type(physical_type: str) -> str:
    """Canonical spelling of a SQL type: upper case, aliases resolved, no spaces in (p, s)."""
    text = " ".join(physical_type.strip().upper().split())
    match = re.fullmatch(r"([A-Z0-9 ]+?)\s*(\(.*\))?", text)
    if not match:
        return text
    base, args = match.group(1), (match.group(2) or "").replace(" ", "")
    return _TYPE_ALIASES.get(base, base) + args


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


_COMPARE: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "mustBe": ("=", operator.eq),
    "mustNotBe": ("!=", operator.ne),
    "mustBeGreaterThan": (">", operator.gt),
    "mustBeGreaterOrEqualTo": (">=", operator.ge),
    "mustBeLessThan": ("<", operator.lt),
    "mustBeLessOrEqualTo": ("<=", operator.le),
    "mustBeBetween": ("between", lambda v, t: t[0] <= v <= t[1]),
    "mustNotBeBetween": ("not between", lambda v, t: not t[0] <= v <= t[1]),
}


@dataclass(frozen=True)
class PortCheck:
    """One check of a port: a query returning one number, and the rule it must satisfy."""

    name: str
    description: str
    sql: str | None  # None for the schema check, which compares columns instead
    operator: str = "mustBe"
    threshold: Any = 0

    def passes(self, observed: Any) -> bool:
        """Whether the observed number satisfies the rule."""
        return _COMPARE[self.operator][1](observed, self.threshold)

    def expectation(self) -> str:
        """The rule in words, e.g. '= 0' or 'between 1 and 10'."""
        symbol = _COMPARE[self.operator][0]
        if "between" in symbol:
            return f"{symbol} {self.threshold[0]} and {self.threshold[1]}"
        return f"{symbol} {self.threshold}"


SCHEMA_CHECK = "schema_matches_contract"


def _rule_sql(rule: QualityRule, table: str) -> str:
    column = _quote(rule.column) if rule.column else None
    if rule.kind == "sql":
        return rule.query.replace("${table}", table).replace("${column}", column or "")
    if rule.metric == "rowCount":
        return f"select count(*) from {table}"
    if rule.metric in ("nullValues", "missingValues"):
        missing = [value for value in rule.arguments.get("missingValues", []) if value is not None]
        condition = f"{column} is null"
        if missing:
            condition += f" or {column} in ({', '.join(_literal(v) for v in missing)})"
        return f"select count(*) from {table} where {condition}"
    if rule.metric == "invalidValues":
        valid = rule.arguments.get("validValues")
        pattern = rule.arguments.get("pattern")
        if valid:
            condition = f"{column} not in ({', '.join(_literal(v) for v in valid)})"
        elif pattern:
            condition = f"not regexp_full_match({column}, {_literal(pattern)})"
        else:
            raise ValueError(
                f"quality rule {rule.name}: invalidValues needs validValues or pattern"
            )
        return f"select count(*) from {table} where {column} is not null and ({condition})"
    if rule.metric == "duplicateValues":
        return f"select count({column}) - count(distinct {column}) from {table}"
    raise ValueError(f"quality rule {rule.name}: unknown metric {rule.metric!r}")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def port_checks(port: Port, table: str) -> list[PortCheck]:
    """Every check the contract implies for `port`, whose rows are in `table`."""
    checks = [
        PortCheck(
            SCHEMA_CHECK,
            f"The table has exactly the contract's columns of port {port.name}, with their types.",
            None,
        )
    ]
    for column in port.columns:
        quoted = _quote(column.name)
        if column.required:
            checks.append(
                PortCheck(
                    f"{column.name}_is_not_null",
                    f"{column.name} is required: no row has it null.",
                    f"select count(*) from {table} where {quoted} is null",
                )
            )
        if column.unique:
            checks.append(
                PortCheck(
                    f"{column.name}_is_unique",
                    f"{column.name} is unique: no value occurs twice.",
                    f"select count({quoted}) - count(distinct {quoted}) from {table}",
                )
            )
    if port.primary_key:
        key = ", ".join(_quote(name) for name in port.primary_key)
        checks.append(
            PortCheck(
                "primary_key_is_unique",
                f"The primary key ({', '.join(port.primary_key)}) identifies one row and is never null.",
                f"select count(*) - count(distinct ({key})) + count(*) filter"
                f" (where {' or '.join(f'{_quote(n)} is null' for n in port.primary_key)})"
                f" from {table}",
            )
        )
    for rule in port.quality:
        checks.append(
            PortCheck(
                rule.name,
                rule.description or f"Quality rule {rule.name} of the contract.",
                _rule_sql(rule, table),
                rule.operator,
                rule.threshold,
            )
        )
    return checks


def schema_differences(columns: list[Column], found: list[tuple[str, str]]) -> list[str]:
    """What differs between the contract's columns and (name, type) pairs found in a table."""
    expected = {c.name: normalize_type(c.physical_type) for c in columns}
    actual = {name: normalize_type(kind) for name, kind in found}
    problems = [
        f"missing column {name} ({kind})" for name, kind in expected.items() if name not in actual
    ]
    problems += [f"column {name} is not in the contract" for name in actual if name not in expected]
    problems += [
        f"column {name} is {actual[name]}, the contract says {kind}"
        for name, kind in expected.items()
        if name in actual and actual[name] != kind
    ]
    return problems


def table_columns(conn: Any, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of every column of `schema.table` through a DB-API connection, in order."""
    return conn.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()

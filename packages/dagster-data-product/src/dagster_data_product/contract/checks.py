"""The checks a contract implies for one output port, as SQL for the active engine.

Each check counts something in the port's table and compares the count with what the
contract allows; the schema check compares the table's columns and types instead. The
SQL is the portable core every engine shares (count, sum, case, scalar subqueries); only
identifier quoting, string literals and regular expressions differ, and `Dialect` holds
those differences. The contract's types are DuckDB's spellings; `engine_type` says what
each becomes on another engine.
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
    "NUMBER": "DECIMAL",
    "DATETIME": "TIMESTAMP",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP_NTZ": "TIMESTAMP",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
}

#: Engines with a single integer type (and Snowflake: one NUMBER type behind all numbers).
_ONE_INTEGER_TYPE = {"snowflake", "bigquery"}
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}


def normalize_type(physical_type: str) -> str:
    """Canonical spelling of a SQL type: upper case, aliases resolved, no spaces in (p, s)."""
    text = " ".join(physical_type.strip().upper().split())
    match = re.fullmatch(r"([A-Z0-9_ ]+?)\s*(\(.*\))?", text)
    if not match:
        return text
    base, args = match.group(1), (match.group(2) or "").replace(" ", "")
    return _TYPE_ALIASES.get(base, base) + args


def engine_type(physical_type: str, engine: str) -> str:
    """The canonical type a column of `physical_type` has on `engine`.

    Spark, Trino and DuckDB keep DuckDB's types under other spellings (`normalize_type`
    resolves those); Snowflake and BigQuery store every integer in one 64-bit type and
    Snowflake reports integers as NUMBER(38,0) and floats as FLOAT.
    """
    canonical = normalize_type(physical_type)
    if engine in _ONE_INTEGER_TYPE:
        if canonical in _INTEGER_TYPES or canonical == "DECIMAL(38,0)":
            return "BIGINT"
        if canonical in ("FLOAT", "DOUBLE"):
            return "DOUBLE"
        if engine == "snowflake" and canonical.startswith("VARCHAR("):
            return "VARCHAR"
    return canonical


@dataclass(frozen=True)
class Dialect:
    """What differs between engines in the checks' SQL."""

    engine: str
    quote_char: str = '"'
    #: Whether a backslash escapes in string literals (it does on Spark, BigQuery, Snowflake).
    backslash_escapes: bool = False
    #: SQL true when {column} matches the whole of {pattern} (a string literal).
    full_match: str = "regexp_like({column}, {anchored})"

    def quote(self, identifier: str) -> str:
        # BigQuery escapes its quote character with a backslash, the others by doubling it.
        escaped = ("\\" if self.engine == "bigquery" else self.quote_char) + self.quote_char
        return self.quote_char + identifier.replace(self.quote_char, escaped) + self.quote_char

    def literal(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        text = str(value)
        if self.backslash_escapes:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    def matches(self, column: str, pattern: str) -> str:
        return self.full_match.format(
            column=column,
            pattern=self.literal(pattern),
            anchored=self.literal(f"^(?:{pattern})$"),
        )


DIALECTS = {
    "duckdb": Dialect("duckdb", full_match="regexp_full_match({column}, {pattern})"),
    "spark": Dialect("spark", "`", True, "{column} rlike {anchored}"),
    "trino": Dialect("trino"),
    # Snowflake's REGEXP_LIKE matches the whole string by itself.
    "snowflake": Dialect(
        "snowflake", backslash_escapes=True, full_match="regexp_like({column}, {pattern})"
    ),
    "bigquery": Dialect("bigquery", "`", True, "regexp_contains({column}, {anchored})"),
}


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


def _rule_sql(rule: QualityRule, table: str, dialect: Dialect) -> str:
    column = dialect.quote(rule.column) if rule.column else None
    if rule.kind == "sql":
        return rule.query.replace("${table}", table).replace("${column}", column or "")
    if rule.metric == "rowCount":
        return f"select count(*) from {table}"
    if rule.metric in ("nullValues", "missingValues"):
        missing = [value for value in rule.arguments.get("missingValues", []) if value is not None]
        condition = f"{column} is null"
        if missing:
            condition += f" or {column} in ({', '.join(dialect.literal(v) for v in missing)})"
        return f"select count(*) from {table} where {condition}"
    if rule.metric == "invalidValues":
        valid = rule.arguments.get("validValues")
        pattern = rule.arguments.get("pattern")
        if valid:
            condition = f"{column} not in ({', '.join(dialect.literal(v) for v in valid)})"
        elif pattern:
            condition = f"not {dialect.matches(column, pattern)}"
        else:
            raise ValueError(
                f"quality rule {rule.name}: invalidValues needs validValues or pattern"
            )
        return f"select count(*) from {table} where {column} is not null and ({condition})"
    if rule.metric == "duplicateValues":
        return f"select count({column}) - count(distinct {column}) from {table}"
    raise ValueError(f"quality rule {rule.name}: unknown metric {rule.metric!r}")


def port_checks(port: Port, table: str, engine: str = "duckdb") -> list[PortCheck]:
    """Every check the contract implies for `port`, whose rows are in `table` on `engine`."""
    dialect = DIALECTS[engine]
    checks = [
        PortCheck(
            SCHEMA_CHECK,
            f"The table has exactly the contract's columns of port {port.name}, with their types.",
            None,
        )
    ]
    for column in port.columns:
        quoted = dialect.quote(column.name)
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
        key = ", ".join(dialect.quote(name) for name in port.primary_key)
        any_null = " or ".join(f"{dialect.quote(name)} is null" for name in port.primary_key)
        checks.append(
            PortCheck(
                "primary_key_is_unique",
                f"The primary key ({', '.join(port.primary_key)}) identifies one row and is never null.",
                # Rows minus distinct keys counts duplicates; rows with a null key part are added.
                f"select (select count(*) from {table})"
                f" - (select count(*) from (select distinct {key} from {table}) as keys)"
                f" + (select count(*) from {table} where {any_null})",
            )
        )
    for rule in port.quality:
        checks.append(
            PortCheck(
                rule.name,
                rule.description or f"Quality rule {rule.name} of the contract.",
                _rule_sql(rule, table, dialect),
                rule.operator,
                rule.threshold,
            )
        )
    return checks


def schema_differences(
    columns: list[Column], found: list[tuple[str, str]], engine: str = "duckdb"
) -> list[str]:
    """What differs between the contract's columns and (name, type) pairs found in a table."""
    expected = {c.name: engine_type(c.physical_type, engine) for c in columns}
    actual = {name: engine_type(kind, engine) for name, kind in found}
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

"""Spellings of SQL types: the contract, dbt and the engines may write one type several ways."""

import re

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


def normalize_type(physical_type: str) -> str:
    """Canonical spelling of a SQL type: upper case, aliases resolved, no spaces in (p, s)."""
    text = " ".join(physical_type.strip().upper().split())
    match = re.fullmatch(r"([A-Z0-9_ ]+?)\s*(\(.*\))?", text)
    if not match:
        return text
    base, args = match.group(1), (match.group(2) or "").replace(" ", "")
    return _TYPE_ALIASES.get(base, base) + args

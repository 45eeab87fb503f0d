"""The product's data contract (ODCS v3) and everything derived from it.

This package imports neither Dagster nor dbt, so the `contract` command starts fast.
"""

from .model import (
    CONTRACT_FILE,
    Column,
    Contract,
    ContractError,
    Port,
    QualityRule,
    load_contract,
)

__all__ = [
    "CONTRACT_FILE",
    "Column",
    "Contract",
    "ContractError",
    "Port",
    "QualityRule",
    "load_contract",
]

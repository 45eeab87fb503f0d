"""The contract and the dbt models behind its ports must agree.

The contract is the source of truth; the dbt YAML of each port's model is written by hand
(it also holds descriptions and dbt tests) and checked against it: same columns in the
same order, same types, required columns not null, and the dbt contract enforced.
"""

import difflib
from pathlib import Path

import yaml

from .checks import normalize_type
from .model import Contract, Port


def _model_entries(dbt_dir: Path) -> dict[str, tuple[Path, dict]]:
    """Every model entry of the project's YAML files, by model name."""
    entries = {}
    for path in sorted((dbt_dir / "models").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models") or []:
            entries[model["name"]] = (path, model)
    return entries


def _contract_lines(port: Port) -> list[str]:
    return [
        f"{c.name}: {normalize_type(c.physical_type)}{' not null' if c.required else ''}"
        for c in port.columns
    ] + ["contract enforced: true"]


def _dbt_lines(model: dict) -> list[str]:
    lines = []
    for column in model.get("columns") or []:
        constraints = {c.get("type") for c in column.get("constraints") or []}
        not_null = " not null" if "not_null" in constraints or "primary_key" in constraints else ""
        lines.append(
            f"{column['name']}: {normalize_type(column.get('data_type') or '?')}{not_null}"
        )
    enforced = ((model.get("config") or {}).get("contract") or {}).get("enforced", False)
    return lines + [f"contract enforced: {str(bool(enforced)).lower()}"]


def dbt_disagreements(contract: Contract, dbt_dir: Path) -> list[str]:
    """A readable diff per port whose dbt model disagrees with the contract; empty if none."""
    entries = _model_entries(dbt_dir)
    reports = []
    for port in contract.ports:
        if port.model not in entries:
            reports.append(
                f"port {port.name}: no dbt model named {port.model!r} has YAML under "
                f"{dbt_dir / 'models'} (the port's customProperties dbtModel)"
            )
            continue
        path, model = entries[port.model]
        expected, actual = _contract_lines(port), _dbt_lines(model)
        if expected != actual:
            diff = difflib.unified_diff(
                expected,
                actual,
                fromfile=f"{contract.path.name} (port {port.name})",
                tofile=f"{path.relative_to(dbt_dir.parent)} (model {port.model})",
                lineterm="",
            )
            reports.append("\n".join(diff))
    return reports

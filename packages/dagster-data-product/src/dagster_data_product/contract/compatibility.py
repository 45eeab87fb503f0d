"""What a new version of a contract changes for its consumers."""

from dataclasses import dataclass

from .types import normalize_type
from .model import Contract


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a contract."""

    breaking: bool
    message: str


def compare(old: Contract, new: Contract) -> list[Change]:
    """The changes from `old` to `new`.

    Breaking: a port or column removed, a column's type changed, a required, unique or
    primary-key promise withdrawn, a freshness SLA loosened. Not breaking: additions and
    stricter promises.
    """
    changes = []
    new_ports = {port.name: port for port in new.ports}
    for port in old.ports:
        if port.name not in new_ports:
            changes.append(Change(True, f"port {port.name} removed"))
            continue
        new_port = new_ports[port.name]
        for column in port.columns:
            after = new_port.column(column.name)
            where = f"port {port.name}, column {column.name}"
            if after is None:
                changes.append(Change(True, f"{where}: removed"))
                continue
            if normalize_type(after.physical_type) != normalize_type(column.physical_type):
                changes.append(
                    Change(True, f"{where}: type {column.physical_type} -> {after.physical_type}")
                )
            elif after.logical_type != column.logical_type:
                changes.append(
                    Change(
                        True, f"{where}: logical type {column.logical_type} -> {after.logical_type}"
                    )
                )
            for promise in ("required", "unique"):
                if getattr(column, promise) and not getattr(after, promise):
                    changes.append(Change(True, f"{where}: no longer {promise}"))
                elif getattr(after, promise) and not getattr(column, promise):
                    changes.append(Change(False, f"{where}: now {promise}"))
        if port.primary_key != new_port.primary_key:
            changes.append(
                Change(
                    True,
                    f"port {port.name}: primary key {port.primary_key} -> {new_port.primary_key}",
                )
            )
        for column in new_port.columns:
            if port.column(column.name) is None:
                changes.append(Change(False, f"port {port.name}, column {column.name}: added"))
    for name in new_ports.keys() - {port.name for port in old.ports}:
        changes.append(Change(False, f"port {name} added"))
    if new.freshness_hours > old.freshness_hours:
        changes.append(
            Change(
                True,
                f"freshness SLA loosened: {old.freshness_hours:g} h -> {new.freshness_hours:g} h",
            )
        )
    elif new.freshness_hours < old.freshness_hours:
        changes.append(
            Change(
                False,
                f"freshness SLA tightened: {old.freshness_hours:g} h -> {new.freshness_hours:g} h",
            )
        )
    return changes

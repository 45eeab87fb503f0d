"""Each output port's column profiles over time, read from the product's Dagster instance.

Publishing records a profile on every materialization of a port (profile.py); the docs
site draws them. The `contract` command runs outside Dagster, so the history is read
straight from the instance's storage: $DAGSTER_HOME when it is set, else the product's own
dagster.yaml, whose storage lives in .dagster/ of the product. Nothing is created when
there is no storage yet: the site then says that there is no history yet.
"""

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..profile import PREFIX, ROW_COUNT
from ..settings import Product

#: How many of a port's latest publishes the site draws.
HISTORY_LENGTH = 60


@dataclass(frozen=True)
class Point:
    """One publish of a port: when, and its profile (metadata key -> number)."""

    timestamp: float
    values: dict[str, float]


def _instance_dir(product: Product) -> Path | None:
    home = os.environ.get("DAGSTER_HOME")
    if home:
        folder = Path(home)
        return folder if (folder / "dagster.yaml").is_file() else None
    if (product.root / "dagster.yaml").is_file() and (product.root / ".dagster").is_dir():
        return product.root
    return None


def profile_history(product: Product, limit: int = HISTORY_LENGTH) -> dict[str, list[Point]] | None:
    """Per port name, its profiled publishes, oldest first; None without an instance."""
    folder = _instance_dir(product)
    if folder is None:
        return None
    import dagster as dg

    from ..ports import published_key

    history: dict[str, list[Point]] = {}
    # The product's dagster.yaml names its storage relative to the folder `dg` runs in.
    with contextlib.chdir(folder):
        instance = dg.DagsterInstance.from_config(str(folder))
        try:
            for port in product.contract.ports:
                key = published_key(product.domain, port.name)
                records = instance.fetch_materializations(key, limit=limit).records
                points = []
                for record in reversed(records):  # newest first from the instance
                    metadata = record.asset_materialization.metadata
                    values = {
                        name: float(entry.value)
                        for name, entry in metadata.items()
                        if (name.startswith(PREFIX + "/") or name == ROW_COUNT)
                        and isinstance(entry.value, (int, float))
                    }
                    if values:
                        points.append(Point(record.timestamp, values))
                history[port.name] = points
        finally:
            instance.dispose()
    return history

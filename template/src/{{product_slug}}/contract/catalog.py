"""The intake catalog of the output ports, generated from the contract.

A consumer loads a port into pandas in one line:

    intake.from_yaml_file("catalog.yaml")["orders"].read()
"""

import tempfile
from pathlib import Path

import yaml

from .model import Contract

CATALOG_FILE = "catalog.yaml"


def render_catalog(contract: Contract) -> str:
    """The text of catalog.yaml: one PandasParquet entry per port, at its published file."""
    from intake.readers import datatypes, entry, readers

    catalog = entry.Catalog(
        metadata={
            "description": f"Output ports of {contract.name}, generated from {contract.path.name}",
            "contract": contract.path.name,
            "contract_id": contract.id,
            "contract_version": contract.version,
        }
    )
    relative = Path(contract.published_path).as_posix().strip("/")
    for port in contract.ports:
        catalog[port.name] = readers.PandasParquet(
            data=datatypes.Parquet(url=f"{{CATALOG_DIR}}/{relative}/{port.name}.parquet"),
            metadata={
                "description": port.description,
                "dbt_model": port.model,
                "columns": {c.name: c.logical_type for c in port.columns},
            },
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / CATALOG_FILE
        catalog.to_yaml_file(str(path))
        return (
            "# Generated from datacontract.yaml by `uv run contract catalog`; do not edit.\n"
            + path.read_text()
        )


def catalog_path(contract: Contract) -> Path:
    """catalog.yaml sits beside the contract, so its paths are relative to both."""
    return contract.path.parent / CATALOG_FILE


def catalog_is_current(contract: Contract) -> bool:
    """Whether catalog.yaml holds what the contract generates (formatting aside)."""
    path = catalog_path(contract)
    return path.exists() and yaml.safe_load(path.read_text()) == yaml.safe_load(
        render_catalog(contract)
    )

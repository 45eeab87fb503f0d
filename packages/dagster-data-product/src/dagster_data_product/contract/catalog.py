"""The intake catalog of the output ports, generated from the contract.

A consumer loads a port into pandas in one line:

    intake.from_yaml_file("catalog.yaml")["orders"].read()

On a product whose `prod` target is Spark, `<port>_prod` reads the port's table as the
Spark run published it: the Parquet files behind table published.<port> in the Spark
warehouse's default location.
"""

import tempfile
from pathlib import Path

import yaml

from .model import Contract, published_file_name

CATALOG_FILE = "catalog.yaml"
#: The Spark warehouse's default folder, relative to the product (see Product.spark_paths).
SPARK_TABLES = "data/spark-warehouse"


def render_catalog(contract: Contract, warehouse: str = "duckdb") -> str:
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
    relative = Path(contract.published_folder).as_posix().strip("/")
    for port in contract.ports:
        metadata = {
            "description": port.description,
            "dbt_model": port.model,
            "columns": {c.name: c.logical_type for c in port.columns},
        }
        catalog[port.name] = readers.PandasParquet(
            data=datatypes.Parquet(
                url=f"{{CATALOG_DIR}}/{relative}/{published_file_name(port.name)}"
            ),
            metadata=metadata,
        )
        if warehouse == "spark":
            catalog[f"{port.name}_prod"] = readers.PandasParquet(
                data=datatypes.Parquet(
                    url=f"{{CATALOG_DIR}}/{SPARK_TABLES}/published.db/{port.name}"
                ),
                metadata={**metadata, "target": "prod", "table": f"published.{port.name}"},
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


def catalog_is_current(contract: Contract, warehouse: str = "duckdb") -> bool:
    """Whether catalog.yaml holds what the contract generates (formatting aside)."""
    path = catalog_path(contract)
    return path.exists() and yaml.safe_load(path.read_text()) == yaml.safe_load(
        render_catalog(contract, warehouse)
    )

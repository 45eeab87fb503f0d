"""Small product folders for the descriptor and registry tests, built without rendering.

A product here is what `contract check` reads: pyproject.toml with [tool.dg], the
DataProduct declaration, a contract, upstreams.yaml with its pins, the dbt files generated
from the contract, catalog.yaml and the descriptor, each written the way the product's own
commands write them.
"""

from pathlib import Path

import yaml

from dagster_data_product.contract.catalog import catalog_path, render_catalog
from dagster_data_product.contract.dbt import write_dbt_files
from dagster_data_product.contract.descriptor import descriptor_path, render_descriptor
from dagster_data_product.contract.model import load_contract
from dagster_data_product.contract.upstreams import load_upstreams

DEFS = """\
type: dagster_data_product.DataProduct
attributes:
  warehouse: duckdb
  automation: eager
"""


def contract_document(domain: str, slug: str, ports=("orders",), version="1.0.0") -> dict:
    """A minimal contract this package accepts: each port has an id and a label column."""
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": f"{domain}.{slug}",
        "name": slug.replace("_", " ").title(),
        "version": version,
        "status": "active",
        "domain": domain,
        "dataProduct": slug,
        "description": {"purpose": f"The {slug} of the {domain} domain."},
        "team": {
            "name": f"{domain}-data",
            "members": [{"username": f"{domain}-data@example.com", "role": "owner"}],
        },
        "support": [{"channel": "email", "url": f"mailto:{domain}-data@example.com"}],
        "slaProperties": [{"property": "freshness", "value": 24, "unit": "h"}],
        "servers": [
            {
                "server": "published",
                "type": "local",
                "format": "parquet",
                "path": "data/published/{model}.parquet",
            }
        ],
        "schema": [
            {
                "name": port,
                "physicalType": "table",
                "logicalType": "object",
                "description": f"One row per {port}.",
                "customProperties": [{"property": "dbtModel", "value": f"fct_{port}"}],
                "properties": [
                    {
                        "name": "id",
                        "logicalType": "integer",
                        "physicalType": "bigint",
                        "required": True,
                    },
                    {"name": "label", "logicalType": "string", "physicalType": "varchar"},
                ],
            }
            for port in ports
        ],
    }


def make_product(
    root: Path,
    domain: str,
    slug: str,
    *,
    ports=("orders",),
    upstreams: list[str] = (),
    version: str = "1.0.0",
) -> Path:
    """A product in `root` whose descriptor is current; `upstreams` are paths of upstream
    contracts relative to `root`, pinned as `contract upstreams` pins them."""
    root.mkdir(parents=True, exist_ok=True)
    module = root / "src" / slug / "defs" / "product"
    module.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{slug}"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
        f'[tool.dg.project]\nroot_module = "{slug}"\n'
    )
    (module / "defs.yaml").write_text(DEFS)
    document = contract_document(domain, slug, ports, version)
    (root / "datacontract.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    marts = root / "dbt" / "models" / "marts"
    marts.mkdir(parents=True, exist_ok=True)
    for port in ports:
        (marts / f"fct_{port}.sql").write_text("select 1 as id, 'a' as label\n")
    (root / "upstreams.yaml").write_text(
        yaml.safe_dump({"upstreams": [{"contract": path} for path in upstreams]})
    )
    pinned = load_upstreams(root / "upstreams.yaml")
    contract = load_contract(root / "datacontract.yaml")
    write_dbt_files(contract, root / "dbt", "duckdb")
    catalog_path(contract).write_text(render_catalog(contract))
    descriptor_path(contract).write_text(render_descriptor(contract, pinned))
    return root


def publish(root: Path, port: str) -> Path:
    """Write the port's published Parquet file, as a run's publishing step would."""
    import pandas as pd

    path = root / "data" / "published" / f"{port}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": [1, 2], "label": ["a", "b"]}).to_parquet(path)
    return path

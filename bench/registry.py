"""How long `contract registry` takes over many products.

    uv run python bench/registry.py [--products N]

Writes N products (default 200) into a temporary folder, each a contract with two output
ports and the ODPS descriptor `contract descriptor` would write; every product after the
first ten reads a port of an earlier one, and every third product has published a port.
Then it times one registry build over all of them, in a fresh interpreter as a scheduled
CI job runs it, and prints JSON: `registry<N>_s` (target: at most 10 s for 200 products on
2 cores) and whether PYTHONDONTWRITEBYTECODE was set (without bytecode caches every import
is compiled again, which a CI job without a warm cache pays too).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGET_S = 10.0


def contract(index: int) -> dict:
    domain = f"domain{index % 12}"
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": f"{domain}.product_{index:04d}",
        "name": f"Product {index}",
        "version": "1.0.0",
        "status": "active",
        "domain": domain,
        "dataProduct": f"product_{index:04d}",
        "description": {"purpose": f"Benchmark product {index}."},
        "team": {
            "name": f"team-{index % 30}",
            "members": [{"username": f"team-{index % 30}@example.com", "role": "owner"}],
        },
        "support": [{"channel": "email", "url": f"mailto:team-{index % 30}@example.com"}],
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
                "description": f"The {port} of product {index}.",
                "customProperties": [{"property": "dbtModel", "value": f"fct_{port}"}],
                "properties": [
                    {"name": f"column_{c}", "logicalType": "string", "physicalType": "varchar"}
                    for c in range(12)
                ],
            }
            for port in ("facts", "dimensions")
        ],
    }


def generate(root: Path, count: int) -> Path:
    """N product folders and the products.yaml listing them."""
    from dagster_data_product.contract.descriptor import render_descriptor
    from dagster_data_product.contract.model import load_contract
    from dagster_data_product.contract.upstreams import load_upstreams

    chooser = random.Random(17)
    for index in range(count):
        folder = root / f"product_{index:04d}"
        folder.mkdir(parents=True)
        (folder / "datacontract.yaml").write_text(yaml.safe_dump(contract(index), sort_keys=False))
        upstreams = []
        if index >= 10:
            upstream = chooser.randrange(index)
            upstreams = [
                {"contract": f"../product_{upstream:04d}/datacontract.yaml", "ports": ["facts"]}
            ]
        (folder / "upstreams.yaml").write_text(yaml.safe_dump({"upstreams": upstreams}))
        pinned = load_upstreams(folder / "upstreams.yaml")
        (folder / "dataproduct.odps.yaml").write_text(
            render_descriptor(load_contract(folder / "datacontract.yaml"), pinned)
        )
        if index % 3 == 0:
            published = folder / "data" / "published"
            published.mkdir(parents=True)
            (published / "facts.parquet").write_bytes(b"PAR1")
    listing = root / "products.yaml"
    listing.write_text(
        yaml.safe_dump({"products": [{"path": f"product_{i:04d}"} for i in range(count)]})
    )
    return listing


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as folder:
        root = Path(folder)
        listing = generate(root, args.products)
        command = [
            sys.executable,
            "-c",
            "import sys; from dagster_data_product.cli import main; sys.exit(main(sys.argv[1:]))",
            "registry",
            str(listing),
            "--out",
            str(root / "site"),
        ]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        index_kib = (root / "site" / "index.html").stat().st_size / 1024
    key = f"registry{args.products}_s"
    print(
        json.dumps(
            {
                key: round(seconds, 3),
                "target_s": TARGET_S if args.products == 200 else None,
                "met": seconds <= TARGET_S if args.products == 200 else None,
                "products": args.products,
                "index_html_kib": round(index_kib, 1),
                "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
                "cores": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

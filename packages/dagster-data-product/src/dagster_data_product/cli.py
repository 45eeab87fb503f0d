"""`uv run contract ...`: check the contract, regenerate the catalog, compare two versions.

Run from anywhere inside a data product; the product is the one around the current folder.

contract check             the contract is valid, the dbt models agree, catalog.yaml is current
contract catalog           regenerate catalog.yaml from the contract
contract diff OLD NEW      list changes between two contract files; exit 1 on a breaking
                           change that the major version does not announce
contract docs [--out DIR]  build the documentation site (default: site/): the contract as a
                           page, linked to dbt's docs
contract upstreams         pin new entries of upstreams.yaml, check every pin, keep a copy
                           of each upstream contract and regenerate the dbt sources reading
                           the upstream ports: loading the product only reads these
                           (--repin: pin every entry again, after a deliberate upgrade)
"""

import argparse
import sys
from pathlib import Path

from .contract.catalog import catalog_is_current, catalog_path, render_catalog
from .contract.compatibility import compare
from .contract.dbt import dbt_disagreements
from .contract.model import ContractError, load_contract
from .settings import Product, ProductError, product_of


def _check(product: Product, path: Path | None) -> int:
    contract = load_contract(path or product.contract_file)
    failures = dbt_disagreements(contract, product.dbt_dir)
    for report in failures:
        print(f"The dbt model disagrees with the contract:\n{report}\n", file=sys.stderr)
    if not catalog_is_current(contract, product.warehouse):
        failures.append("catalog")
        print(
            f"{catalog_path(contract)} is out of date: run `uv run contract catalog`",
            file=sys.stderr,
        )
    if failures:
        return 1
    ports = ", ".join(port.name for port in contract.ports) or "no port yet"
    print(f"{contract.path.name} {contract.version} is valid; dbt and the catalog agree ({ports}).")
    return 0


def _catalog(product: Product, path: Path | None) -> int:
    contract = load_contract(path or product.contract_file)
    catalog_path(contract).write_text(render_catalog(contract, product.warehouse))
    print(f"Wrote {catalog_path(contract)} ({len(contract.ports)} ports)")
    return 0


def _diff(old_path: Path, new_path: Path) -> int:
    old, new = load_contract(old_path), load_contract(new_path)
    changes = compare(old, new)
    for change in changes:
        print(f"{'BREAKING' if change.breaking else 'compatible'}: {change.message}")
    breaking = [change for change in changes if change.breaking]
    if not changes:
        print("No change to the ports or the SLA.")
    if breaking and new.major <= old.major:
        print(
            f"{len(breaking)} breaking change(s) without a new major version "
            f"({old.version} -> {new.version}): bump the major version, or keep the promise.",
            file=sys.stderr,
        )
        return 1
    return 0


def _docs(product: Product, out: Path | None) -> int:
    from .contract.docs import build_site  # imports dbt's runner only when docs are built

    index = build_site(product, out)
    print(f"Wrote {index} (dbt docs in {index.parent / 'dbt'})")
    return 0


def _upstreams(product: Product, repin: bool) -> int:
    from .contract.upstreams import load_upstreams, sync_dbt_sources

    upstreams = load_upstreams(product.upstreams_file, repin=repin)
    sync_dbt_sources(upstreams, product.dbt_dir)
    for upstream in upstreams:
        ports = ", ".join(port.name for port in upstream.ports)
        print(f"{upstream.describe()}: major {upstream.major}, ports {ports}")
    if not upstreams:
        print("No upstream product in upstreams.yaml.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `contract` command."""
    parser = argparse.ArgumentParser(prog="contract", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "catalog"):
        sub = commands.add_parser(name)
        sub.add_argument("--contract", type=Path, default=None)
    diff = commands.add_parser("diff")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    docs = commands.add_parser("docs")
    docs.add_argument("--out", type=Path, default=None)
    upstreams = commands.add_parser("upstreams")
    upstreams.add_argument("--repin", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "diff":
            return _diff(args.old, args.new)
        product = product_of(Path.cwd())
        if args.command == "check":
            return _check(product, args.contract)
        if args.command == "catalog":
            return _catalog(product, args.contract)
        if args.command == "docs":
            return _docs(product, args.out)
        return _upstreams(product, args.repin)
    except (ContractError, ProductError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

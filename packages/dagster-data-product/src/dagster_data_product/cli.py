"""`uv run contract ...`: check the contract, regenerate the catalog, compare two versions.

Run from anywhere inside a data product; the product is the one around the current folder.

contract check             the contract is valid; the dbt files generated from it, catalog.yaml
                           and dataproduct.odps.yaml are current
contract dbt               write the dbt YAML of each port's model and the dbt tests of its
                           rules, from the contract (one test, one check, per promise)
contract catalog           regenerate catalog.yaml from the contract
contract descriptor        regenerate dataproduct.odps.yaml (ODPS) from the contract and the
                           upstream pins
contract diff OLD NEW      list changes between two contract files; exit 1 on a breaking
                           change that the major version does not announce
contract docs [--out DIR]  build the documentation site (default: site/): the contract as a
                           page, linked to dbt's docs
contract upstreams         pin new entries of upstreams.yaml, check every pin, keep a copy
                           of each upstream contract and regenerate the dbt sources reading
                           the upstream ports: loading the product only reads these
                           (--repin: pin every entry again, after a deliberate upgrade);
                           it rewrites dataproduct.odps.yaml, whose input ports are the pins
contract registry PRODUCTS.yaml --out DIR
                           build the registry of every product PRODUCTS.yaml lists: a static
                           site DIR/index.html and one intake catalog DIR/catalog.yaml (runs
                           anywhere; --strict: exit 1 when a location cannot be read)
"""

import argparse
import sys
from pathlib import Path

from .contract.catalog import catalog_is_current, catalog_path, render_catalog
from .contract.compatibility import compare
from .contract.dbt import dbt_disagreements, write_dbt_files
from .contract.descriptor import (
    build_descriptor,
    descriptor_path,
    descriptor_problems,
    render_descriptor,
)
from .contract.model import ContractError, load_contract
from .settings import Product, ProductError, product_of


def _answers(product: Product) -> dict[str, str]:
    return {"warehouse": product.warehouse, "automation": product.automation}


def _pinned(product: Product):
    """The pinned upstreams, read without writing (as a load reads them)."""
    from .contract.upstreams import load_upstreams

    return load_upstreams(product.upstreams_file, write=False)


def _listed(heading: str, problems: list[str]) -> None:
    print(heading + "\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)


def _check(product: Product, path: Path | None) -> int:
    # Imported here: the engines' module brings pyarrow, which the other commands do without.
    from .warehouse import production_problems

    contract = load_contract(path or product.contract_file)
    failures = dbt_disagreements(contract, product.dbt_dir, product.warehouse)
    for report in failures:
        print(f"The dbt files disagree with the contract:\n{report}\n", file=sys.stderr)
    located = production_problems(contract.document, product.warehouse)
    if located:
        failures.append("servers")
        _listed(
            f"{contract.path.name} names another place for the published ports than the one "
            "the product publishes to:",
            located,
        )
    if not catalog_is_current(contract, product.warehouse):
        failures.append("catalog")
        print(
            f"{catalog_path(contract)} is out of date: run `uv run contract catalog`",
            file=sys.stderr,
        )
    expected = build_descriptor(contract, _pinned(product), **_answers(product))
    problems = descriptor_problems(descriptor_path(contract), expected)
    if problems:
        failures.append("descriptor")
        _listed(
            f"{descriptor_path(contract)} does not agree with the contract and the pins: "
            "run `uv run contract descriptor`",
            problems,
        )
    if failures:
        return 1
    ports = ", ".join(port.name for port in contract.ports) or "no port yet"
    print(
        f"{contract.path.name} {contract.version} is valid; dbt, the catalog and the descriptor "
        f"agree ({ports})."
    )
    if contract.legacy_layout:
        # Not a failure: the product reads the layout before 1.0.0, and a team updating
        # from it changes its own contract when it chooses.
        print(
            f"Note: ODCS tools such as datacontract-cli cannot read {contract.path.name} as "
            "written before 1.0.0:\n" + "\n".join(f"  - {p}" for p in contract.legacy_layout)
        )
    return 0


def _descriptor(product: Product, path: Path | None, upstreams=None) -> int:
    contract = load_contract(path or product.contract_file)
    upstreams = _pinned(product) if upstreams is None else upstreams
    target = descriptor_path(contract)
    text = render_descriptor(contract, upstreams, **_answers(product))
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    inputs = sum(len(upstream.ports) for upstream in upstreams)
    print(f"Wrote {target} ({len(contract.ports)} output ports, {inputs} input ports)")
    return 0


def _dbt(product: Product, path: Path | None) -> int:
    contract = load_contract(path or product.contract_file)
    changed = write_dbt_files(contract, product.dbt_dir, product.warehouse)
    for changed_path in changed:
        state = "wrote" if changed_path.exists() else "removed"
        print(f"{state} {changed_path.relative_to(product.root)}")
    if not changed:
        print(f"The dbt files of {len(contract.ports)} port(s) agree with {contract.path.name}.")
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
    # The pins are the descriptor's input ports.
    return _descriptor(product, None, upstreams)


def _registry(products: Path, out: Path, strict: bool) -> int:
    from .registry import build_registry  # the registry needs intake; a product's checks do not

    report = build_registry(products, out)
    print(
        f"Wrote {report.index} and {report.catalog}: {len(report.products)} products, "
        f"{len(report.errors)} locations with errors"
    )
    for error in report.errors:
        print(f"  {error.location}: {error.reason}", file=sys.stderr)
    for message in report.duplicates:
        print(f"  {message}", file=sys.stderr)
    return 1 if strict and (report.errors or report.duplicates) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `contract` command."""
    parser = argparse.ArgumentParser(prog="contract", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "catalog", "descriptor", "dbt"):
        sub = commands.add_parser(name)
        sub.add_argument("--contract", type=Path, default=None)
    diff = commands.add_parser("diff")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    docs = commands.add_parser("docs")
    docs.add_argument("--out", type=Path, default=None)
    upstreams = commands.add_parser("upstreams")
    upstreams.add_argument("--repin", action="store_true")
    registry = commands.add_parser("registry")
    registry.add_argument("products", type=Path, help="YAML file listing product locations")
    registry.add_argument("--out", type=Path, required=True, help="folder of the site")
    registry.add_argument(
        "--strict", action="store_true", help="exit 1 when a location has an error"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "diff":
            return _diff(args.old, args.new)
        if args.command == "registry":
            return _registry(args.products, args.out, args.strict)
        product = product_of(Path.cwd())
        if args.command == "check":
            return _check(product, args.contract)
        if args.command == "catalog":
            return _catalog(product, args.contract)
        if args.command == "dbt":
            return _dbt(product, args.contract)
        if args.command == "descriptor":
            return _descriptor(product, args.contract)
        if args.command == "docs":
            return _docs(product, args.out)
        return _upstreams(product, args.repin)
    except (ContractError, ProductError) as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

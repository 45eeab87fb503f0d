"""The product's ODPS descriptor, dataproduct.odps.yaml, generated from its contract and pins.

The descriptor is what other teams and the registry (`contract registry`) find a product
by: its id, name, version, status, domain, description, team and support, its output ports
(each with the contract that promises it) and its input ports (each upstream port it reads,
with that upstream's contract id and version). It follows the Bitol Open Data Product
Standard (ODPS) v1.1.0 and is validated against its JSON schema, vendored in schemas/.

Nothing in it is written by hand: `contract descriptor` (and `contract upstreams`, whose
pins decide the input ports) writes it, and `contract check` fails when it no longer
agrees with the contract or the pins.
"""

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import Contract, ContractError, load_contract

#: The descriptor's file name, beside the contract in the product's root folder.
DESCRIPTOR_FILE = "dataproduct.odps.yaml"
ODPS_API_VERSION = "v1.1.0"
ODPS_SCHEMA = "odps-json-schema-v1.1.0.json"
WRITE_COMMAND = "uv run contract descriptor"
HEADER = (
    "# Generated from datacontract.yaml and upstreams.yaml by `uv run contract descriptor`;\n"
    "# do not edit. Open Data Product Standard (ODPS) v1.1.0.\n"
)
#: The product's documentation site (`contract docs`), relative to the product's root.
DOCS_INDEX = "site/index.html"
#: Lines are never folded, so the template's rendering and the generator's agree.
_WIDTH = 100000


class DescriptorError(ContractError):
    """The descriptor cannot be used; the message names the file and every problem."""


def product_id(contract: Contract) -> str:
    """The product's id: `<domain>.<dataProduct>` of its contract (the contract id without
    a `dataProduct`)."""
    name = contract.document.dataProduct
    return f"{contract.domain}.{name}" if name else contract.id


def _custom(properties: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"property": key, "value": value} for key, value in properties.items()]


def build_descriptor(
    contract: Contract, upstreams=(), *, warehouse: str = "duckdb", automation: str = "eager"
) -> dict[str, Any]:
    """The descriptor as plain data, from the contract, the pinned upstreams and the
    product's answers (`warehouse`, `automation`)."""
    document = contract.document
    team = document.team
    members = (team.members if hasattr(team, "members") else team) or []
    description = document.description
    descriptor: dict[str, Any] = {
        "apiVersion": ODPS_API_VERSION,
        "kind": "DataProduct",
        "id": product_id(contract),
        "name": contract.name,
        "version": contract.version,
        "status": document.status or "active",
        "domain": contract.domain,
    }
    if description and description.purpose:
        descriptor["description"] = {"purpose": description.purpose}
    descriptor["team"] = {
        "name": contract.owner_team,
        "members": [
            {key: value for key, value in (("username", m.username), ("role", m.role)) if value}
            for m in members
            if m.username
        ],
    }
    support = [
        {"channel": s.channel, "url": s.url} for s in document.support or [] if s.channel and s.url
    ]
    if support:
        descriptor["support"] = support
    descriptor["outputPorts"] = [
        {
            "name": port.name,
            "description": port.description,
            "type": "parquet",
            "version": contract.version,
            "contractId": contract.id,
        }
        for port in contract.ports
    ]
    descriptor["inputPorts"] = [
        {
            "name": port.name,
            "version": upstream.contract.version,
            "contractId": upstream.contract.id,
        }
        for upstream in upstreams
        for port in upstream.ports
    ]
    descriptor["customProperties"] = _custom(
        {
            "contract": contract.path.name,
            "docs": DOCS_INDEX,
            "warehouse": warehouse,
            "automation": automation,
        }
    )
    return descriptor


def dump(descriptor: dict[str, Any]) -> str:
    """The descriptor's text: the header and the data as block YAML, lines never folded."""
    return HEADER + yaml.safe_dump(
        descriptor, sort_keys=False, allow_unicode=True, default_flow_style=False, width=_WIDTH
    )


def descriptor_path(contract: Contract) -> Path:
    """dataproduct.odps.yaml sits beside the contract, so its references are relative to both."""
    return contract.path.parent / DESCRIPTOR_FILE


def render_descriptor(contract: Contract, upstreams=(), **answers: str) -> str:
    """The text of dataproduct.odps.yaml for `contract` and its pinned `upstreams`."""
    return dump(build_descriptor(contract, upstreams, **answers))


@functools.cache
def odps_schema() -> dict:
    """The ODPS v1.1.0 JSON schema vendored with this package (see schemas/NOTICE)."""
    text = resources.files(__package__).joinpath("schemas", ODPS_SCHEMA).read_text()
    return json.loads(text)


def schema_errors(data: Any) -> list[str]:
    """Every way `data` breaks the ODPS v1.1.0 JSON schema, as `field: message` lines."""
    validator = jsonschema.Draft201909Validator(odps_schema())
    messages = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        ).lstrip(".")
        messages.append(f"{where or '(top level)'}: {error.message}")
    return list(dict.fromkeys(messages))


def read_descriptor(path: Path) -> dict[str, Any]:
    """The descriptor at `path`, valid against the ODPS schema; DescriptorError otherwise."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DescriptorError(f"{path}: no descriptor; run `{WRITE_COMMAND}`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DescriptorError(f"{path}: cannot be read: {error}") from None
    except yaml.YAMLError as error:
        raise DescriptorError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise DescriptorError(f"{path}: an ODPS descriptor is a YAML mapping")
    problems = schema_errors(data)
    if problems:
        raise DescriptorError(
            f"{path} is not a valid ODPS {ODPS_API_VERSION} descriptor:\n"
            + "\n".join(f"  - {problem}" for problem in problems[:20])
        )
    return data


def custom_property(descriptor: dict[str, Any], name: str, default: Any = None) -> Any:
    """The value of the product-level custom property `name`."""
    for entry in descriptor.get("customProperties") or []:
        if entry.get("property") == name:
            return entry.get("value")
    return default


def resolve_contract(path: Path, descriptor: dict[str, Any], *, schema: bool = True) -> Contract:
    """The contract the descriptor at `path` names, checked against its output ports.

    Raises DescriptorError when the contract is missing or invalid, or when an output port
    names another contract id or version, or a port the contract does not have.
    """
    name = custom_property(descriptor, "contract")
    if not isinstance(name, str) or not name:
        raise DescriptorError(f"{path}: customProperties names no `contract` file")
    try:
        contract = load_contract(path.parent / name, schema=schema)
    except ContractError as error:
        raise DescriptorError(f"{path}: its contract {name} does not resolve: {error}") from None
    problems = []
    ports = {port.name for port in contract.ports}
    for index, port in enumerate(descriptor.get("outputPorts") or []):
        where = f"outputPorts[{index}] ({port.get('name')})"
        if port.get("contractId") != contract.id:
            problems.append(
                f"{where}: contractId {port.get('contractId')!r}, the contract is {contract.id!r}"
            )
        if port.get("version") != contract.version:
            problems.append(
                f"{where}: version {port.get('version')!r}, the contract is {contract.version}"
            )
        if port.get("name") not in ports:
            problems.append(f"{where}: the contract has no such port")
    if problems:
        raise DescriptorError(
            f"{path} does not agree with {name}:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return contract


def _ports(ports) -> dict[tuple, dict]:
    return {(p.get("contractId"), p.get("name")): p for p in ports or []}


def disagreements(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """How the written descriptor differs from what the contract and pins generate."""
    problems = []
    for key in ("id", "name", "version", "status", "domain", "description", "team", "support"):
        if actual.get(key) != expected.get(key):
            problems.append(f"{key}: {actual.get(key)!r}, the contract says {expected.get(key)!r}")
    for side in ("outputPorts", "inputPorts"):
        have, want = _ports(actual.get(side)), _ports(expected.get(side))
        source, says = ("the contract", "says") if side == "outputPorts" else ("the pins", "say")
        for key in sorted(set(want) - set(have), key=str):
            problems.append(f"{side}: {key[1]} of {key[0]} is missing: {source} {says} it exists")
        for key in sorted(set(have) - set(want), key=str):
            problems.append(f"{side}: {key[1]} of {key[0]} is not in {source}")
        for key in sorted(set(have) & set(want), key=str):
            for field in dict.fromkeys([*want[key], *have[key]]):
                if have[key].get(field) != want[key].get(field):
                    problems.append(
                        f"{side}: {key[1]} of {key[0]}: {field} {have[key].get(field)!r}, "
                        f"{source} {says} {want[key].get(field)!r}"
                    )
    if not problems and actual != expected:
        problems.append("differs from what the contract and the pins generate")
    return problems


def descriptor_problems(path: Path, expected: dict[str, Any]) -> list[str]:
    """Why the descriptor at `path` is not what `expected` (the generator's data) says; []
    when it is current and valid."""
    try:
        actual = read_descriptor(path)
    except DescriptorError as error:
        return [str(error)]
    return [f"{path.name}: {problem}" for problem in disagreements(actual, expected)]

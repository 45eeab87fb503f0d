"""Upstream products, read only through their contracts.

upstreams.yaml names each upstream contract. `contract upstreams` pins what this product
relies on (the contract's id, its major version, and the columns and types of every
consumed port), keeps a copy of each upstream contract and generates the dbt sources that
read the upstream's published Parquet. Every load checks the upstream contracts against
those pins without writing anything, so a breaking upstream change stops this product
with one clear error instead of a failure deep inside dbt, and a pin, copy or generated
file that is missing or stale stops it with the command that writes it.
"""

import functools
import json
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from .types import normalize_type
from .model import Contract, ContractError, load_contract, published_file_name

#: upstreams.yaml's name in a product's root folder.
UPSTREAMS_FILE = "upstreams.yaml"
#: The command that writes what a load only reads: pins, copies, generated dbt files.
WRITE_COMMAND = "uv run contract upstreams"
#: Where the product keeps a copy of each upstream contract it last checked its pins against,
#: beside upstreams.yaml: an image of the product, built from the product's folder alone,
#: reads the copy, because the upstream's own folder is not in it.
COPIES_DIR_NAME = "upstreams"
#: The folder of the dbt project's models that read upstream ports, and its generated sources.
UPSTREAM_MODELS = Path("models") / "upstreams"
GENERATED_SOURCES = "_upstream_sources.yml"
#: dbt variable through which runs pass each upstream's published folder, by contract id.
PUBLISHED_VAR = "upstream_published"


class UpstreamError(ContractError):
    """An upstream contract no longer keeps a promise this product pinned."""


@dataclass(frozen=True)
class UpstreamPort:
    """One consumed port of an upstream product, with the columns this product pinned."""

    name: str
    description: str
    columns: dict[str, str]
    published_file: Path


@dataclass(frozen=True)
class Upstream:
    """A pinned upstream product."""

    path: str  # as written in upstreams.yaml
    contract: Contract
    major: int
    ports: tuple[UpstreamPort, ...]
    #: Where the upstream publishes, by its own contract (not this product's settings): its
    #: `published` server's path, resolved from the folder of the contract upstreams.yaml
    #: names, also when the product reads its copy of that contract.
    published_dir: Path

    @property
    def source_name(self) -> str:
        """The dbt source through which models read this upstream."""
        name = self.contract.document.dataProduct or self.contract.id
        return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")

    def describe(self) -> str:
        """`<name> (<id>)`: how errors name the upstream."""
        return f"{self.contract.name} ({self.contract.id})"


def _pin(entry: dict, contract: Contract) -> dict:
    wanted = entry.get("ports")
    ports = [p for p in contract.ports if not wanted or p.name in wanted]
    missing = sorted(set(wanted or []) - {p.name for p in contract.ports})
    if missing:
        raise UpstreamError(
            f"{UPSTREAMS_FILE}: upstream {contract.name} ({contract.id}) has no port "
            f"{', '.join(missing)} (ports: {', '.join(p.name for p in contract.ports)})"
        )
    return {
        "contract": entry["contract"],
        "id": contract.id,
        "major": contract.major,
        "ports": {p.name: {c.name: c.physical_type for c in p.columns} for p in ports},
    }


def _broken_pins(entry: dict, contract: Contract) -> list[str]:
    who = f"upstream {contract.name} ({contract.id})"
    if entry.get("id") != contract.id:
        return [
            f"{who}: pinned contract id {entry.get('id')!r}, the file now holds {contract.id!r}"
        ]
    problems = []
    if contract.major != entry["major"]:
        problems.append(
            f"{who}: pinned major version {entry['major']}, the contract is now {contract.version}"
        )
    for port_name, columns in entry["ports"].items():
        port = next((p for p in contract.ports if p.name == port_name), None)
        if port is None:
            problems.append(f"{who}, port {port_name}: no longer in the contract")
            continue
        for column_name, pinned_type in columns.items():
            column = port.column(column_name)
            if column is None:
                problems.append(
                    f"{who}, port {port_name}, column {column_name}: gone from the contract"
                )
            elif normalize_type(column.physical_type) != normalize_type(pinned_type):
                problems.append(
                    f"{who}, port {port_name}, column {column_name}: "
                    f"type {pinned_type} is now {column.physical_type}"
                )
    return problems


def _header(path: Path) -> str:
    """The comment block at the top of `path`, kept when the pins are written back."""
    header = []
    for line in path.read_text().splitlines(keepends=True) if path.exists() else []:
        if not line.startswith("#"):
            break
        header.append(line)
    return "".join(header)


def _copy_path(upstreams_file: Path, contract_id: str) -> Path:
    """The copy of the upstream contract `contract_id` kept beside `upstreams_file`."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", contract_id)
    return upstreams_file.parent / COPIES_DIR_NAME / f"{name}.datacontract.yaml"


def _read_upstream_contract(path: Path, entry: dict, source: Path) -> Contract:
    """The upstream contract `entry` names (`source`) or, where that file is absent (as in
    an image of this product), the copy kept when its pins last held."""
    copy = _copy_path(path, entry["id"]) if isinstance(entry.get("id"), str) else None
    if source.exists() or copy is None:
        return load_contract(source)
    if not copy.exists():
        raise ContractError(
            f"{source}: the data contract file does not exist, and neither does this "
            f"product's copy of it, {copy.relative_to(path.parent)}. Run `{WRITE_COMMAND}` "
            f"where the upstream contract is reachable, and commit the copy."
        )
    return load_contract(copy)


def _keep_copy(path: Path, contract: Contract) -> None:
    """Keep the upstream contract whose pins just held, as this product's copy of it."""
    copy = _copy_path(path, contract.id)
    if contract.path.resolve() == copy.resolve():
        return
    text = contract.path.read_text()
    if not copy.exists() or copy.read_text() != text:
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(text)


def _stale_copy(path: Path, contract: Contract) -> bool:
    copy = _copy_path(path, contract.id)
    if contract.path.resolve() == copy.resolve():
        return False
    return not copy.exists() or copy.read_text() != contract.path.read_text()


def load_upstreams(path: Path, *, repin: bool = False, write: bool = True) -> list[Upstream]:
    """Read upstreams.yaml, pin what is not pinned yet (or everything, with `repin`),
    and check every pin against the upstream's current contract.

    With `write`, new pins are written back and each upstream contract whose pins hold is
    kept as a copy in `upstreams/`, which is read instead where the upstream's file is
    absent. Without it nothing is written: an entry not pinned yet, or a copy that is
    missing or older than the upstream's contract, is an error naming `contract upstreams`.
    Raises UpstreamError naming the upstream product, port and column of every broken pin.
    """
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("upstreams") or []
    problems, upstreams, pinned_now = [], [], False
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("contract"), str):
            problems.append(f"upstreams[{index}]: needs `contract: <path to datacontract.yaml>`")
            continue
        source = path.parent / entry["contract"]
        try:
            contract = _read_upstream_contract(path, entry, source)
        except ContractError as error:
            problems.append(f"upstreams[{index}] ({entry['contract']}): {error}")
            continue
        if repin or "major" not in entry or not isinstance(entry.get("ports"), dict):
            if not write:
                problems.append(
                    f"upstreams[{index}] ({entry['contract']}): not pinned yet; "
                    f"run `{WRITE_COMMAND}` and commit what it writes"
                )
                continue
            entry = entries[index] = _pin(entry, contract)
            pinned_now = True
        broken = _broken_pins(entry, contract)
        if broken:
            problems += broken
            continue
        # From where the contract is said to be, also when its copy was read.
        upstream_dir = contract.declared_published_dir(source.parent)
        ports = tuple(
            UpstreamPort(
                name=name,
                description=contract.port(name).description,
                columns=dict(columns),
                published_file=upstream_dir / published_file_name(name),
            )
            for name, columns in entry["ports"].items()
        )
        upstreams.append(Upstream(entry["contract"], contract, entry["major"], ports, upstream_dir))
    if problems:
        raise UpstreamError(
            f"{path} pins upstream contracts that no longer hold:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    if not write:
        stale = [u.describe() for u in upstreams if _stale_copy(path, u.contract)]
        if stale:
            raise UpstreamError(
                f"{path.parent / COPIES_DIR_NAME} holds no current copy of the contract of "
                f"{', '.join(stale)}: run `{WRITE_COMMAND}` and commit the copy."
            )
        return upstreams
    if pinned_now:
        path.write_text(_header(path) + yaml.safe_dump({"upstreams": entries}, sort_keys=False))
    for upstream in upstreams:
        _keep_copy(path, upstream.contract)
    return upstreams


def render_sources(upstreams: list[Upstream], dbt_dir: Path) -> str:
    """The dbt sources reading each pinned port from its upstream's published Parquet file.

    Runs pass each upstream's folder in the `upstream_published` variable; without it (a
    `dbt build` by hand) the path relative to the dbt project, as pinned, is used.
    """
    sources = []
    for upstream in upstreams:
        relative = os.path.relpath(upstream.published_dir, dbt_dir)
        folder = (
            f"{{{{ var('{PUBLISHED_VAR}', {{}}).get('{upstream.contract.id}', '{relative}') }}}}"
        )
        sources.append(
            {
                "name": upstream.source_name,
                "description": f"Output ports of {upstream.describe()}, read through its contract.",
                "meta": {
                    "contract": upstream.path,
                    "published_dir": folder,
                    "external_location": "{published_dir}/{name}.parquet",
                },
                "tables": [
                    {
                        "name": port.name,
                        "description": port.description,
                        "meta": {
                            "dagster": {
                                "asset_key": [upstream.contract.domain, "published", port.name]
                            }
                        },
                        "columns": [
                            {"name": name, "data_type": kind} for name, kind in port.columns.items()
                        ],
                    }
                    for port in upstream.ports
                ],
            }
        )
    header = "# Generated from upstreams.yaml and the upstream contracts; do not edit.\n"
    return header + yaml.safe_dump({"sources": sources}, sort_keys=False)


@functools.cache
def _reserved_words() -> frozenset[str]:
    import duckdb

    rows = duckdb.sql(
        "select keyword_name from duckdb_keywords() where keyword_category = 'reserved'"
    ).fetchall()
    return frozenset(name for (name,) in rows)


def _identifier(name: str) -> str:
    """A column name as SQL: bare when it is a plain lower-case name, quoted otherwise."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name not in _reserved_words():
        return name
    return '"' + name.replace('"', '""') + '"'


def staging_model(upstream: Upstream, port: UpstreamPort) -> tuple[str, str]:
    """(file name, SQL) of the first model reading a consumed port; the team owns it after.

    It names the pinned columns, so a column the upstream adds later reaches this product
    only when the team adds it here, and it passes the product's sqlfluff rules as written.
    """
    name = f"stg_{upstream.source_name}__{port.name}"
    header = textwrap.wrap(
        f"Output port {port.name} of {upstream.describe()}, read through its contract, "
        "with the columns this product pinned.",
        width=77,
    )
    columns = ",\n".join(f"        {_identifier(column)}" for column in port.columns)
    sql = (
        "".join(f"-- {line}\n" for line in header)
        + "with\n\nsource as (\n\n"
        + f"    select * from {{{{ source('{upstream.source_name}', '{port.name}') }}}}\n\n"
        + "),\n\nrenamed as (\n\n    select\n"
        + columns
        + "\n\n    from source\n\n)\n\nselect * from renamed\n"
    )
    return f"{name}.sql", sql


def _generated_files(upstreams: list[Upstream], dbt_dir: Path) -> dict[Path, str | None]:
    """Every file the upstreams generate in the dbt project, with its text.

    None for a staging model: it is written once and then belongs to the team, so only
    its existence counts. The sources file is None-valued too when there is no upstream
    and it must not exist.
    """
    models = dbt_dir / UPSTREAM_MODELS
    if not upstreams:
        return {}
    files: dict[Path, str | None] = {models / GENERATED_SOURCES: render_sources(upstreams, dbt_dir)}
    for upstream in upstreams:
        for port in upstream.ports:
            name, _ = staging_model(upstream, port)
            files[models / name] = None
    return files


def sync_dbt_sources(upstreams: list[Upstream], dbt_dir: Path) -> bool:
    """Write the generated sources and any missing staging model; True if a file changed."""
    models = dbt_dir / UPSTREAM_MODELS
    generated = models / GENERATED_SOURCES
    if not upstreams:
        if generated.exists():
            generated.unlink()
            return True
        return False
    changed = False
    text = render_sources(upstreams, dbt_dir)
    if not generated.exists() or generated.read_text() != text:
        models.mkdir(parents=True, exist_ok=True)
        generated.write_text(text)
        changed = True
    for upstream in upstreams:
        for port in upstream.ports:
            name, sql = staging_model(upstream, port)
            if not (models / name).exists():
                (models / name).write_text(sql)
                changed = True
    return changed


def stale_dbt_files(upstreams: list[Upstream], dbt_dir: Path) -> list[str]:
    """The generated dbt files that are missing or out of date (relative to `dbt_dir`)."""
    stale = []
    expected = _generated_files(upstreams, dbt_dir)
    for path, text in expected.items():
        if not path.exists() or (text is not None and path.read_text() != text):
            stale.append(str(path.relative_to(dbt_dir)))
    generated = dbt_dir / UPSTREAM_MODELS / GENERATED_SOURCES
    if not upstreams and generated.exists():
        stale.append(str(generated.relative_to(dbt_dir)))
    return stale


def verify_upstreams(product) -> list[Upstream]:
    """The product's upstreams, checked without writing anything (see `load_upstreams`).

    Also refuses generated dbt sources or staging models that are missing or out of date,
    naming the files and `contract upstreams`, which writes them.
    """
    upstreams = load_upstreams(product.upstreams_file, write=False)
    stale = stale_dbt_files(upstreams, product.dbt_dir)
    if stale:
        raise UpstreamError(
            f"The dbt files generated from {product.upstreams_file.name} are missing or out of "
            f"date ({', '.join(stale)} in {product.dbt_dir}): run `{WRITE_COMMAND}` and commit them."
        )
    return upstreams


def published_vars(upstreams) -> list[str]:
    """dbt's `--vars` for a product's upstreams: where each one's ports are published.

    Empty for a product without upstreams. dbt resolves the sources' locations from these
    while it parses, so every dbt command of a run gets the same arguments.
    """
    published = {u.contract.id: str(u.published_dir) for u in upstreams}
    return ["--vars", json.dumps({PUBLISHED_VAR: published})] if published else []

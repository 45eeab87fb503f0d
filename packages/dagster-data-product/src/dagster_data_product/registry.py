"""The registry of a company's data products: one static site and one intake catalog.

    uv run contract registry products.yaml --out DIR

products.yaml lists where the products are:

    products:
      - path: ../sales_orders                    # a folder, relative to products.yaml
      - git: https://git.example.com/web/events.git
        ref: v1.2.0                              # a branch, a tag or a commit
        path: products/events                    # optional: the product's folder in the repo

For each product the registry reads its ODPS descriptor (dataproduct.odps.yaml) and the
contract it names, and writes, without any network but the `git clone` of git locations:

- DIR/index.html: every product with its owners, support, SLA, output ports (columns and
  types, contract, the last publish time read from the published Parquet file's mtime, a
  link to the port in the product's own docs site) and the graph of which product reads
  which port, drawn as inline SVG;
- DIR/catalog.yaml: one intake entry per output port, `<product id>.<port>`, reading the
  published Parquet file at its absolute path.

A location that is missing, unreadable, has no descriptor or an invalid one is shown as an
error with its reason and the others are still built. Two products claiming one id are
reported and both kept.
"""

import html
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .contract.descriptor import (
    DESCRIPTOR_FILE,
    DOCS_INDEX,
    WRITE_COMMAND,
    DescriptorError,
    custom_property,
    read_descriptor,
    resolve_contract,
)
from .contract.model import YAML_LOADER, Contract, ContractError, published_file_name

CATALOG_FILE = "catalog.yaml"
INDEX_FILE = "index.html"
#: Where the docs sites of products read from git are copied, inside the registry's folder.
SITES_DIR = "sites"
GIT_TIMEOUT = 300


class RegistryError(ContractError):
    """The list of products cannot be used at all; nothing is built."""


@dataclass(frozen=True)
class LocationError:
    """A location the registry could not read a product from, and why."""

    location: str
    reason: str


@dataclass(frozen=True)
class PortEntry:
    name: str
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, logical type, physical type)
    published_file: Path
    published_at: datetime | None


@dataclass
class ProductEntry:
    """One product as the registry shows it."""

    key: str  # unique in the registry: the id, suffixed for a second claim of one id
    anchor: str
    location: str
    folder: Path
    descriptor: dict[str, Any]
    contract: Contract
    ports: tuple[PortEntry, ...]
    docs: str | None  # link relative to the registry's folder
    docs_built: bool

    @property
    def id(self) -> str:
        return self.descriptor["id"]

    @property
    def name(self) -> str:
        return self.descriptor.get("name") or self.id

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.descriptor.get("inputPorts") or [])


@dataclass(frozen=True)
class Edge:
    """`consumer` reads output port `port` of `producer` (product keys)."""

    producer: str
    consumer: str
    port: str


@dataclass
class Registry:
    """What `build_registry` wrote and found."""

    index: Path
    catalog: Path
    products: list[ProductEntry] = field(default_factory=list)
    errors: list[LocationError] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    #: Input ports whose contract no product of the registry offers: (consumer key, port).
    unresolved: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


# Reading the locations ------------------------------------------------------------------


def read_locations(path: Path) -> list[dict[str, Any]]:
    """The entries of products.yaml; RegistryError when the file itself is unusable."""
    try:
        data = yaml.load(path.read_text(), Loader=YAML_LOADER)
    except OSError as error:
        raise RegistryError(f"{path}: cannot read the list of products: {error}") from None
    except yaml.YAMLError as error:
        raise RegistryError(f"{path} is not valid YAML: {error}") from None
    entries = data.get("products") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise RegistryError(
            f"{path}: needs `products:`, a list of `- path: <folder>` or "
            "`- git: <url>` (with `ref:`) entries"
        )
    return entries


def _label(entry: Any) -> str:
    if isinstance(entry, dict) and entry.get("git"):
        where = f"{entry['git']}@{entry.get('ref') or 'default branch'}"
        return where + (f" ({entry['path']})" if entry.get("path") else "")
    if isinstance(entry, dict) and entry.get("path"):
        return str(entry["path"])
    return repr(entry)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT
    )


def clone(url: str, ref: str | None, dest: Path) -> None:
    """`git clone` `url` at `ref` into `dest`; RuntimeError with git's message on failure."""
    shallow = ["clone", "--quiet", "--depth", "1", *(["--branch", ref] if ref else []), url]
    done = _git(*shallow, str(dest))
    if done.returncode == 0:
        return
    if ref:
        # A commit is no branch or tag: clone everything, then check it out.
        shutil.rmtree(dest, ignore_errors=True)
        full = _git("clone", "--quiet", url, str(dest))
        if full.returncode == 0:
            checkout = _git("checkout", "--quiet", ref, cwd=dest)
            if checkout.returncode == 0:
                return
            done = checkout
        else:
            done = full
    message = (done.stderr or done.stdout).strip().splitlines()
    raise RuntimeError(f"git could not fetch it: {message[-1] if message else 'no message'}")


def _folder(entry: Any, base: Path, scratch: Path, index: int) -> tuple[Path, bool]:
    """(the product's folder, whether it was cloned) for one entry of products.yaml."""
    if not isinstance(entry, dict) or not (entry.get("path") or entry.get("git")):
        raise RuntimeError("an entry needs `path: <folder>` or `git: <url>` with `ref:`")
    if entry.get("git"):
        dest = scratch / f"location-{index}"
        clone(str(entry["git"]), str(entry["ref"]) if entry.get("ref") else None, dest)
        return (dest / entry["path"] if entry.get("path") else dest), True
    return (base / str(entry["path"])).resolve(), False


def _published_dir(contract: Contract) -> Path:
    """Where the product publishes, by its contract alone (the registry's environment is not
    the product's, so PUBLISH_DIR is not read)."""
    return contract.declared_published_dir()


def _published_at(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return None


def read_product(folder: Path) -> tuple[dict[str, Any], Contract]:
    """The descriptor and contract of the product in `folder`; DescriptorError says why not."""
    if not folder.exists():
        raise DescriptorError(f"{folder}: the folder does not exist")
    if not folder.is_dir():
        raise DescriptorError(f"{folder}: is not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise DescriptorError(f"{folder}: the folder cannot be read (permission denied)")
    path = folder / DESCRIPTOR_FILE
    if not path.exists():
        raise DescriptorError(
            f"{folder}: no {DESCRIPTOR_FILE}; the product writes it with `{WRITE_COMMAND}`"
        )
    descriptor = read_descriptor(path)
    contract = resolve_contract(path, descriptor, schema=False)
    return descriptor, contract


# Building -------------------------------------------------------------------------------


def _entry(
    descriptor: dict, contract: Contract, folder: Path, cloned: bool, out: Path, key: str
) -> tuple[list[PortEntry], str | None, bool]:
    published = _published_dir(contract)
    ports = [
        PortEntry(
            name=port.name,
            description=port.description,
            columns=tuple((c.name, c.logical_type, c.physical_type) for c in port.columns),
            published_file=published / published_file_name(port.name),
            published_at=_published_at(published / published_file_name(port.name)),
        )
        for port in contract.ports
    ]
    docs_index = folder / str(custom_property(descriptor, "docs", DOCS_INDEX))
    built = docs_index.is_file()
    if cloned:
        # The clone goes away: keep a copy of the site the repository holds, if any.
        if not built:
            return ports, None, False
        copy = out / SITES_DIR / _safe(key)
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(docs_index.parent, copy)
        docs_index = copy / docs_index.name
    return ports, os.path.relpath(docs_index, out), built


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def build_registry(products_file: Path, out: Path) -> Registry:
    """Read every location products_file lists and write out/index.html and out/catalog.yaml."""
    products_file = products_file.resolve()
    entries = read_locations(products_file)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    registry = Registry(index=out / INDEX_FILE, catalog=out / CATALOG_FILE)
    claims: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="registry-") as scratch:
        for index, raw in enumerate(entries):
            label = _label(raw)
            try:
                folder, cloned = _folder(raw, products_file.parent, Path(scratch), index)
                descriptor, contract = read_product(folder)
            except (ContractError, RuntimeError, OSError, subprocess.TimeoutExpired) as error:
                registry.errors.append(LocationError(label, str(error)))
                continue
            claims.setdefault(descriptor["id"], []).append(label)
            count = len(claims[descriptor["id"]])
            key = descriptor["id"] if count == 1 else f"{descriptor['id']}-{count}"
            try:
                ports, docs, built = _entry(descriptor, contract, folder, cloned, out, key)
            except OSError as error:
                registry.errors.append(LocationError(label, f"cannot be read: {error}"))
                continue
            registry.products.append(
                ProductEntry(
                    key=key,
                    anchor=f"product-{len(registry.products) + 1}",
                    location=label,
                    folder=folder,
                    descriptor=descriptor,
                    contract=contract,
                    ports=tuple(ports),
                    docs=docs,
                    docs_built=built,
                )
            )
    for product_id, labels in claims.items():
        if len(labels) > 1:
            registry.duplicates.append(
                f"product id {product_id!r} is claimed by {len(labels)} locations "
                f"({'; '.join(labels)}); all are listed"
            )
    _link(registry)
    registry.catalog.write_text(render_catalog(registry))
    registry.index.write_text(render_site(registry))
    return registry


def _link(registry: Registry) -> None:
    """The edges of the graph: which product reads which port of which product."""
    offers: dict[tuple[str, str], list[str]] = {}
    for product in registry.products:
        for port in product.descriptor.get("outputPorts") or []:
            offers.setdefault((port.get("contractId"), port.get("name")), []).append(product.key)
    for product in registry.products:
        for port in product.inputs:
            producers = offers.get((port.get("contractId"), port.get("name")), [])
            if not producers:
                registry.unresolved.append((product.key, port))
            for producer in producers:
                registry.edges.append(Edge(producer, product.key, str(port.get("name"))))


# The catalog ------------------------------------------------------------------------------


def catalog_name(product: ProductEntry, port: PortEntry) -> str:
    """The intake entry of a port: `<product id>.<port>`."""
    return f"{product.key}.{port.name}"


def render_catalog(registry: Registry) -> str:
    """One intake catalog with every output port of every product, at its published file."""
    from intake.readers import datatypes, entry, readers

    catalog = entry.Catalog(
        metadata={
            "description": "Every output port of the products in the registry, generated by "
            "`contract registry`",
            "products": [product.key for product in registry.products],
        }
    )
    for product in registry.products:
        owner = product.descriptor.get("team") or {}
        for port in product.ports:
            catalog[catalog_name(product, port)] = readers.PandasParquet(
                data=datatypes.Parquet(url=str(port.published_file)),
                metadata={
                    "description": port.description,
                    "product": product.key,
                    "product_name": product.name,
                    "contract_id": product.contract.id,
                    "contract_version": product.contract.version,
                    "owner": owner.get("name", ""),
                    "columns": {name: logical for name, logical, _ in port.columns},
                    "published_at": _when(port.published_at),
                },
            )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / CATALOG_FILE
        catalog.to_yaml_file(str(path))
        return "# Generated by `contract registry`; do not edit.\n" + path.read_text()


# The site ---------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; color: #1f2933;
       padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #cbd2d9; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
code { background: #f0f4f8; padding: 0 0.2rem; }
.error { color: #9b1c1c; }
.errors li { margin-bottom: 0.3rem; }
.never { color: #7b8794; }
section.product { border-top: 2px solid #cbd2d9; margin-top: 2rem; }
svg { border: 1px solid #cbd2d9; background: #fbfcfd; max-width: 100%; height: auto; }
.graph .node rect { fill: #e4f0fb; stroke: #2f6fad; }
.graph .node text { font-size: 13px; fill: #1f2933; }
.graph .edge path { fill: none; stroke: #52606d; stroke-width: 1.5; }
.graph .edge text { font-size: 11px; fill: #52606d; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "never"


def _layers(registry: Registry) -> dict[str, int]:
    """Each product's column in the graph: the longest chain of products it reads from."""
    parents: dict[str, set[str]] = {p.key: set() for p in registry.products}
    for edge in registry.edges:
        if edge.producer != edge.consumer:
            parents[edge.consumer].add(edge.producer)
    depth: dict[str, int] = {}

    def visit(key: str, seen: frozenset) -> int:
        if key in depth:
            return depth[key]
        options = [visit(p, seen | {key}) + 1 for p in parents[key] if p not in seen]
        depth[key] = max(options, default=0)
        return depth[key]

    for key in parents:
        visit(key, frozenset())
    return depth


def render_graph(registry: Registry) -> str:
    """The products as boxes in columns (sources left), an arrow per port one reads."""
    if not registry.products:
        return "<p>No product to draw.</p>"
    width, height, gap_x, gap_y, pad = 220, 46, 110, 24, 20
    top = 50  # room for the arcs of arrows that skip a column
    depth = _layers(registry)
    columns: dict[int, list[ProductEntry]] = {}
    for product in registry.products:
        columns.setdefault(depth[product.key], []).append(product)
    where: dict[str, tuple[int, int]] = {}
    for column, members in columns.items():
        for row, product in enumerate(members):
            where[product.key] = (
                pad + column * (width + gap_x),
                top + row * (height + gap_y),
            )
    total_w = pad * 2 + (max(columns) + 1) * (width + gap_x) - gap_x
    total_h = top + pad + max(len(m) for m in columns.values()) * (height + gap_y) - gap_y
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{total_w}" '
        f'height="{total_h}" viewBox="0 0 {total_w} {total_h}" role="img" '
        'aria-label="Which product reads which port">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#52606d"/></marker></defs>',
    ]
    grouped: dict[tuple[str, str], list[str]] = {}
    for edge in registry.edges:
        grouped.setdefault((edge.producer, edge.consumer), []).append(edge.port)
    by_key = {p.key: p for p in registry.products}
    for (producer, consumer), ports in grouped.items():
        x1, y1 = where[producer]
        x2, y2 = where[consumer]
        start = (x1 + width, y1 + height / 2)
        end = (x2, y2 + height / 2)
        if x2 <= x1:  # a cycle or a product reading itself: loop below the boxes
            start, end = (x1 + width / 2, y1 + height), (x2 + width / 2, y2 + height)
            bend = max(y1, y2) + height + gap_y
            d = f"M{start[0]},{start[1]} C{start[0]},{bend} {end[0]},{bend} {end[0]},{end[1]}"
            label_at = ((start[0] + end[0]) / 2, bend)
        elif x2 - x1 > width + gap_x:  # skips a column: arc over the boxes between
            start, end = (x1 + width / 2, y1), (x2 + width / 2, y2)
            arc = min(y1, y2) - top + 8
            d = f"M{start[0]},{start[1]} C{start[0]},{arc} {end[0]},{arc} {end[0]},{end[1]}"
            label_at = ((start[0] + end[0]) / 2, arc + 0.75 * (min(y1, y2) - arc) - 2)
        else:
            middle = (start[0] + end[0]) / 2
            d = f"M{start[0]},{start[1]} C{middle},{start[1]} {middle},{end[1]} {end[0]},{end[1]}"
            label_at = (middle, (start[1] + end[1]) / 2 - 4)
        parts.append(
            f'<g class="edge" data-from="{_e(by_key[producer].id)}" '
            f'data-to="{_e(by_key[consumer].id)}"><title>{_e(by_key[consumer].name)} reads '
            f"{_e(', '.join(ports))} of {_e(by_key[producer].name)}</title>"
            f'<path d="{d}" marker-end="url(#arrow)"/>'
            f'<text x="{label_at[0]}" y="{label_at[1]}" text-anchor="middle">'
            f"{_e(', '.join(ports))}</text></g>"
        )
    for product in registry.products:
        x, y = where[product.key]
        name = product.name if len(product.name) <= 28 else product.name[:27] + "…"
        key = product.key if len(product.key) <= 32 else product.key[:31] + "…"
        parts.append(
            f'<a href="#{product.anchor}"><g class="node" data-id="{_e(product.id)}">'
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 19}" font-weight="bold">{_e(name)}</text>'
            f'<text x="{x + 10}" y="{y + 36}">{_e(key)}</text></g></a>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _port_rows(product: ProductEntry) -> str:
    rows = []
    for port in product.ports:
        link = (
            f'<a href="{_e(product.docs)}#port-{_e(port.name)}"><code>{_e(port.name)}</code></a>'
            if product.docs
            else f"<code>{_e(port.name)}</code>"
        )
        columns = ", ".join(
            f"<code>{_e(name)}</code> {_e(logical)} (<code>{_e(physical)}</code>)"
            for name, logical, physical in port.columns
        )
        published = _when(port.published_at)
        css = ' class="never"' if port.published_at is None else ""
        rows.append(
            f'<tr class="port" data-port="{_e(product.key)}.{_e(port.name)}">'
            f"<td>{link}</td><td>{_e(port.description)}</td><td>{columns}</td>"
            f'<td class="published"{css}>{_e(published)}</td>'
            f"<td><code>{_e(product.key)}.{_e(port.name)}</code></td></tr>"
        )
    if not rows:
        return "<p>No output port yet.</p>"
    return (
        "<table><tr><th>port</th><th>description</th><th>columns and types</th>"
        "<th>last published</th><th>catalog entry</th></tr>" + "".join(rows) + "</table>"
    )


def _product_section(product: ProductEntry, registry: Registry) -> str:
    d = product.descriptor
    team = d.get("team") or {}
    members = ", ".join(
        f"{_e(m.get('username'))}" + (f" ({_e(m.get('role'))})" if m.get("role") else "")
        for m in team.get("members") or []
    )
    support = ", ".join(
        f'<a href="{_e(s.get("url"))}">{_e(s.get("channel"))}</a>' for s in d.get("support") or []
    )
    by_key = {p.key: p for p in registry.products}
    reads = [
        f'<li><code>{_e(e.port)}</code> of <a href="#{by_key[e.producer].anchor}">'
        f"{_e(by_key[e.producer].name)}</a> (<code>{_e(by_key[e.producer].id)}</code>)</li>"
        for e in registry.edges
        if e.consumer == product.key
    ] + [
        f"<li><code>{_e(port.get('name'))}</code> of contract <code>"
        f"{_e(port.get('contractId'))}</code> {_e(port.get('version', ''))}: no product of "
        "the registry offers it</li>"
        for key, port in registry.unresolved
        if key == product.key
    ]
    readers = [
        f'<li><a href="#{by_key[e.consumer].anchor}">{_e(by_key[e.consumer].name)}</a> reads '
        f"<code>{_e(e.port)}</code></li>"
        for e in registry.edges
        if e.producer == product.key
    ]
    docs = (
        f'<a href="{_e(product.docs)}">documentation site</a>'
        + ("" if product.docs_built else " (not built yet: `uv run contract docs`)")
        if product.docs
        else "none published"
    )
    description = (d.get("description") or {}).get("purpose", "")
    return (
        f'<section class="product" id="{product.anchor}" data-id="{_e(product.id)}">'
        f"<h2>{_e(product.name)} <small><code>{_e(product.key)}</code></small></h2>"
        f"<p>{_e(description)}</p><table>"
        f"<tr><th>version</th><td>{_e(d.get('version', ''))} ({_e(d.get('status', ''))})</td></tr>"
        f"<tr><th>domain</th><td>{_e(d.get('domain', ''))}</td></tr>"
        f"<tr><th>owners</th><td>team {_e(team.get('name', ''))}: {members}</td></tr>"
        f"<tr><th>support</th><td>{support or 'none given'}</td></tr>"
        f"<tr><th>freshness SLA</th><td>{product.contract.freshness_hours:g} hours</td></tr>"
        f"<tr><th>contract</th><td><code>{_e(product.contract.id)}</code> "
        f"{_e(product.contract.version)}</td></tr>"
        f"<tr><th>docs</th><td>{docs}</td></tr>"
        f"<tr><th>location</th><td><code>{_e(product.location)}</code></td></tr>"
        "</table><h3>Output ports</h3>"
        + _port_rows(product)
        + "<h3>Reads</h3>"
        + (f"<ul>{''.join(reads)}</ul>" if reads else "<p>No other product.</p>")
        + "<h3>Read by</h3>"
        + (f"<ul>{''.join(readers)}</ul>" if readers else "<p>No product of the registry.</p>")
        + "</section>"
    )


def render_site(registry: Registry) -> str:
    """DIR/index.html: problems first, then the graph, the list and each product."""
    problems = [
        f'<li class="error location-error"><code>{_e(error.location)}</code>: '
        f"<pre>{_e(error.reason)}</pre></li>"
        for error in registry.errors
    ] + [f'<li class="error duplicate">{_e(message)}</li>' for message in registry.duplicates]
    ports = sum(len(p.ports) for p in registry.products)
    published = sum(1 for p in registry.products for port in p.ports if port.published_at)
    rows = "".join(
        f'<tr><td><a href="#{p.anchor}">{_e(p.name)}</a></td><td><code>{_e(p.key)}</code></td>'
        f"<td>{_e(p.descriptor.get('version', ''))}</td><td>{_e(p.descriptor.get('domain', ''))}"
        f"</td><td>{_e((p.descriptor.get('team') or {}).get('name', ''))}</td>"
        f"<td>{len(p.ports)}</td></tr>"
        for p in registry.products
    )
    now = datetime.now(UTC)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Data products</title><style>{_STYLE}</style></head><body>"
        "<h1>Data products</h1>"
        f"<p>{len(registry.products)} products, {ports} output ports ({published} published), "
        f"{len(registry.errors)} location(s) with errors. Built {_when(now)}. Every port is in "
        f'the intake catalog <a href="{CATALOG_FILE}"><code>{CATALOG_FILE}</code></a>.</p>'
        + (
            f'<h2 class="error">Problems</h2><ul class="errors">{"".join(problems)}</ul>'
            if problems
            else ""
        )
        + "<h2>Who reads whom</h2>"
        + render_graph(registry)
        + "<h2>Products</h2><table><tr><th>name</th><th>id</th><th>version</th><th>domain</th>"
        f"<th>team</th><th>ports</th></tr>{rows}</table>"
        + "".join(_product_section(p, registry) for p in registry.products)
        + "</body></html>"
    )

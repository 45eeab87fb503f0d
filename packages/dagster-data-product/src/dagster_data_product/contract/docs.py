"""The product's documentation site, built from the contract and dbt's own docs.

`uv run contract docs` writes site/index.html (the contract as a readable page: owner,
SLA, every output port with its columns, types and rules, and the upstream products) and
site/dbt/index.html (dbt's self-contained docs), linked from the first page. It needs no
network and no materialized warehouse.
"""

import html
import shutil
from pathlib import Path

from ..dbt.process import run_dbt
from ..settings import Product
from .model import Contract, Port
from .upstreams import Upstream

#: The site's folder in the product's root.
SITE_DIR = "site"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1f2933; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #cbd2d9; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
code { background: #f0f4f8; padding: 0 0.2rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _port_section(port: Port) -> str:
    rows = "".join(
        "<tr>"
        f"<td><code>{_e(c.name)}</code></td><td>{_e(c.logical_type)}</td>"
        f"<td><code>{_e(c.physical_type)}</code></td>"
        f"<td>{'yes' if c.required else ''}</td><td>{'yes' if c.unique else ''}</td>"
        f"<td>{'yes' if c.primary_key else ''}</td><td>{_e(c.description)}</td>"
        "</tr>"
        for c in port.columns
    )
    rules = "".join(
        f"<li><code>{_e(rule.name)}</code>"
        f"{' on <code>' + _e(rule.column) + '</code>' if rule.column else ''}: "
        f"{_e(rule.description or rule.metric or rule.query)}</li>"
        for rule in port.quality
    )
    return (
        f'<h3 id="port-{_e(port.name)}">Port <code>{_e(port.name)}</code></h3>'
        f"<p>{_e(port.description)} Built by dbt model <code>{_e(port.model)}</code>; published"
        f" as <code>{_e(port.name)}.parquet</code>.</p>"
        "<table><tr><th>column</th><th>logical type</th><th>physical type</th><th>required</th>"
        f"<th>unique</th><th>primary key</th><th>description</th></tr>{rows}</table>"
        + (f"<p>Quality rules:</p><ul>{rules}</ul>" if rules else "")
    )


def _upstream_section(upstreams: list[Upstream]) -> str:
    if not upstreams:
        return "<p>This product reads no other product.</p>"
    items = "".join(
        f"<li>{_e(u.describe())}, major version {u.major}: ports "
        + ", ".join(f"<code>{_e(p.name)}</code>" for p in u.ports)
        + "</li>"
        for u in upstreams
    )
    return f"<ul>{items}</ul>"


def render_contract_page(contract: Contract, upstreams: list[Upstream]) -> str:
    """The contract as one HTML page."""
    ports = "".join(_port_section(port) for port in contract.ports) or "<p>No output port yet.</p>"
    description = contract.document.description
    purpose = description.purpose if description else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(contract.name)}: data contract</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(contract.name)}</h1><p>{_e(purpose)}</p>"
        "<table>"
        f"<tr><th>contract</th><td><code>{_e(contract.id)}</code> version {_e(contract.version)}</td></tr>"
        f"<tr><th>domain</th><td>{_e(contract.domain)}</td></tr>"
        f"<tr><th>owner</th><td>team {_e(contract.owner_team)}, {_e(contract.owner_email)}</td></tr>"
        f"<tr><th>freshness SLA</th><td>{contract.freshness_hours:g} hours</td></tr>"
        "</table>"
        f"<h2>Output ports</h2>{ports}"
        f"<h2>Upstream products</h2>{_upstream_section(upstreams)}"
        '<h2>Models</h2><p>The dbt documentation of every model: <a href="dbt/index.html">dbt docs</a>.</p>'
        "</body></html>"
    )


def build_site(product: Product, site: Path | None = None) -> Path:
    """Write the product's site into `site` (default: site/) and return its index page."""
    site = site or product.root / SITE_DIR
    site.mkdir(parents=True, exist_ok=True)
    index = site / "index.html"
    index.write_text(render_contract_page(product.contract, list(product.upstreams())))
    # dbt in this process: a `dbt` subprocess would spend longer importing dbt than
    # generating the docs. Its own output folder keeps dbt's partial parsing between builds;
    # --empty-catalog: the docs describe the project, so no warehouse has to exist.
    target = product.dbt_dir / "target" / "docs"
    run_dbt(product, "docs", "generate", "--static", "--empty-catalog", "--target-path", str(target))
    (site / "dbt").mkdir(exist_ok=True)
    shutil.copy(target / "static_index.html", site / "dbt" / "index.html")
    return index

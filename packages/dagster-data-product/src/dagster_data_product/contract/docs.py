"""The product's documentation site, built from the contract and dbt's own docs.

`uv run contract docs` writes site/index.html (the contract as a readable page: owner,
SLA, every output port with its columns, types and rules, and the upstream products) and
site/dbt/index.html (dbt's self-contained docs), linked from the first page. It needs no
network and no materialized warehouse. Each port's column profiles over its latest publishes
are drawn as inline SVG charts, read from the product's Dagster instance when it has one.
"""

import html
from datetime import datetime, timezone
import shutil
from pathlib import Path

from ..dbt.process import run_dbt
from ..settings import Product
from ..profile import ROW_COUNT, STATISTICS, metadata_key
from .history import Point, profile_history
from .model import Contract, Port, published_file_name
from .upstreams import Upstream

#: The site's folder in the product's root.
SITE_DIR = "site"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #1f2933; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #cbd2d9; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
code { background: #f0f4f8; padding: 0 0.2rem; }
svg.spark { display: block; }
td.chart { font-size: 0.8rem; white-space: nowrap; }
"""

_SPARK_WIDTH, _SPARK_HEIGHT = 140, 32


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) and not value.is_integer() else f"{value:.0f}"


def sparkline(values: list[float], label: str) -> str:
    """An inline SVG line of `values` (oldest first) with the latest value written under it."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = _SPARK_WIDTH / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{_SPARK_HEIGHT - 2 - (v - low) / span * (_SPARK_HEIGHT - 4):.1f}"
        for i, v in enumerate(values)
    )
    last_x, last_y = points.split(" ")[-1].split(",")
    return (
        f'<svg class="spark" role="img" width="{_SPARK_WIDTH}" height="{_SPARK_HEIGHT}" '
        f'viewBox="0 0 {_SPARK_WIDTH} {_SPARK_HEIGHT}"><title>{_e(label)}: '
        + _e(", ".join(_number(v) for v in values))
        + f'</title><polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="{points}"/>'
        f'<circle cx="{last_x}" cy="{last_y}" r="2" fill="#2563eb"/></svg>'
        f"{_e(_number(values[-1]))} (range {_e(_number(low))} to {_e(_number(high))})"
    )


def _profile_section(port: Port, points: list[Point] | None) -> str:
    """The port's profile history: the row count and each column's statistics over time."""
    if not points:
        return "<p>Profile history: no history yet (the port has not been published here).</p>"
    first = points[0].timestamp

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def series(key: str) -> list[float]:
        return [p.values[key] for p in points if key in p.values]

    rows = "".join(
        f"<tr><td><code>{_e(c.name)}</code></td>"
        + "".join(
            f'<td class="chart">{sparkline(series(metadata_key(c.name, stat)), f"{c.name} {stat}")}</td>'
            for stat in STATISTICS
        )
        + "</tr>"
        for c in port.columns
    )
    return (
        f"<p>Profile history: {len(points)} publishes from {when(first)} to "
        f"{when(points[-1].timestamp)}; rows {sparkline(series(ROW_COUNT), 'rows')}</p>"
        "<p>Dates are drawn as Unix time in seconds.</p>"
        "<table><tr><th>column</th>"
        + "".join(f"<th>{_e(stat.replace('_', ' '))}</th>" for stat in STATISTICS)
        + f"</tr>{rows}</table>"
    )


def _e(value: object) -> str:
    return html.escape(str(value))


def _port_section(port: Port, history: dict[str, list[Point]] | None = None) -> str:
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
        f" as <code>{_e(published_file_name(port.name))}</code>.</p>"
        "<table><tr><th>column</th><th>logical type</th><th>physical type</th><th>required</th>"
        f"<th>unique</th><th>primary key</th><th>description</th></tr>{rows}</table>"
        + (f"<p>Quality rules:</p><ul>{rules}</ul>" if rules else "")
        + _profile_section(port, (history or {}).get(port.name))
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


def render_contract_page(
    contract: Contract, upstreams: list[Upstream], history: dict[str, list[Point]] | None = None
) -> str:
    """The contract as one HTML page, with each port's profile history when there is one."""
    ports = (
        "".join(_port_section(port, history) for port in contract.ports)
        or "<p>No output port yet.</p>"
    )
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
    index.write_text(
        render_contract_page(product.contract, list(product.upstreams()), profile_history(product))
    )
    # dbt in this process: a `dbt` subprocess would spend longer importing dbt than
    # generating the docs. Its own output folder keeps dbt's partial parsing between builds;
    # --empty-catalog: the docs describe the project, so no warehouse has to exist.
    target = product.dbt_dir / "target" / "docs"
    run_dbt(product, "docs", "generate", "--static", "--empty-catalog", "--target-path", str(target))
    (site / "dbt").mkdir(exist_ok=True)
    shutil.copy(target / "static_index.html", site / "dbt" / "index.html")
    return index

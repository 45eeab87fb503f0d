"""What one data product is: its folder, its contract, its engine and how it refreshes.

A product declares itself once, in the `defs.yaml` of a `dagster_data_product.DataProduct`
component. Everything else (the dbt component, the `contract` command, the team's own
assets through `product_of(__file__)`) reads that declaration, so an answer lives in one
place. This module does not import Dagster.
"""

import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Engines a product's `prod` dbt target may run on; development always runs on DuckDB.
ENGINES = ("duckdb", "spark", "trino", "snowflake", "bigquery")
AUTOMATIONS = ("eager", "cron")
#: The component type a product declares itself with, as written in `defs.yaml`.
PRODUCT_COMPONENT = "dagster_data_product.DataProduct"

#: Environment variable naming the DuckDB file; see `Product.duckdb_path`.
DUCKDB_PATH_ENV = "DUCKDB_PATH"
#: Environment variable selecting the dbt target: "dev" (local DuckDB) or "prod".
DBT_TARGET_ENV = "DBT_TARGET"
TARGETS = ("dev", "prod")


class ProductError(ValueError):
    """The product's declaration or settings cannot be used; the message says what to fix."""


def _absolute(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.strip():
        # dbt would read the empty value as a path and fail far from here.
        raise ValueError(f"{name} is set but empty: unset it or give an absolute path.")
    path = Path(value)
    if not path.is_absolute():
        raise ValueError(
            f"{name} must be an absolute path, got {value!r}. Unset it to use the default {default}."
        )
    return path


#: An address Dagster takes for an asset owner (its own check: a first character that is a
#: letter, a digit or _, and a last part of 2 to 7 letters).
_DAGSTER_EMAIL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._%+-]*@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}")


def asset_owners(team: str, email: str) -> list[str]:
    """A contract's team and owner address as Dagster's asset owners.

    An address Dagster would refuse (a longer last part, such as .technology) stays in the
    contract and the catalog, and the team alone owns the assets.
    """
    owners = [f"team:{team}"] if team else []
    return owners + ([email] if email and _DAGSTER_EMAIL.fullmatch(email) else [])


@dataclass(frozen=True)
class Product:
    """One data product: where its files are and the answers it was rendered with.

    Paths are absolute. `contract`, `domain` and `owners` come from the data contract, which
    is the product's promise to its consumers and so the one place that names them.
    """

    root: Path
    contract_file: Path
    upstreams_file: Path
    dbt_dir: Path
    warehouse: str = "duckdb"
    automation: str = "eager"
    pool: str = ""
    #: The Python package of the product (`[tool.dg.project] root_module`).
    module: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.warehouse not in ENGINES:
            raise ProductError(f"warehouse must be one of {', '.join(ENGINES)}, got {self.warehouse!r}")
        if self.automation not in AUTOMATIONS:
            raise ProductError(
                f"automation must be one of {', '.join(AUTOMATIONS)}, got {self.automation!r}"
            )

    # The contract -----------------------------------------------------------------------

    @property
    def contract(self):
        """The product's data contract, read and validated once."""
        if "contract" not in self._cache:
            from .contract.model import load_contract

            self._cache["contract"] = load_contract(self.contract_file)
        return self._cache["contract"]

    @property
    def domain(self) -> str:
        """The business domain: the first part of every asset key of the product."""
        return self.contract.domain

    @property
    def owners(self) -> list[str]:
        """The owning team and its address, as Dagster records owners."""
        return asset_owners(self.contract.owner_team, self.contract.owner_email)

    @property
    def slug(self) -> str:
        return self.module or re.sub(r"[^a-z0-9_]+", "_", self.root.name.lower())

    # Where the data lives ---------------------------------------------------------------

    def duckdb_path(self) -> Path:
        """The DuckDB file the product reads and writes.

        `DUCKDB_PATH` overrides the default `data/warehouse.duckdb`. It must be absolute,
        because dbt resolves relative paths from the folder it runs in while Python resolves
        them from the current directory: a relative value would split the product across two
        files, so it is refused with an error naming the variable.
        """
        return _absolute(DUCKDB_PATH_ENV, self.root / "data" / "warehouse.duckdb")

    def spark_paths(self) -> dict[str, Path]:
        """Where Spark keeps the product's tables and its metastore (absolute paths)."""
        return {
            "SPARK_WAREHOUSE_DIR": _absolute(
                "SPARK_WAREHOUSE_DIR", self.root / "data" / "spark-warehouse"
            ),
            "SPARK_METASTORE_DIR": _absolute(
                "SPARK_METASTORE_DIR", self.root / "data" / "spark-metastore"
            ),
        }

    def active_engine(self) -> str:
        """The engine the active dbt target runs on: DuckDB for dev, `warehouse` for prod."""
        return "duckdb" if dbt_target() == "dev" else self.warehouse

    def dbt_environment(self) -> dict[str, str]:
        """Absolute locations for the dbt profile's variables, set before dbt runs.

        The profile's own defaults are relative to dbt/, where the `dbt` command runs; inside
        Dagster the process may run anywhere, so the locations are handed over explicitly.
        """
        environment = {DUCKDB_PATH_ENV: str(self.duckdb_path())}
        if self.warehouse == "spark":
            environment |= {name: str(path) for name, path in self.spark_paths().items()}
        return environment

    # Upstream products ------------------------------------------------------------------

    def upstreams(self):
        """The pinned upstream products, checked against their contracts; read once.

        Reading never writes: pins, copies of upstream contracts and the generated dbt
        sources are written by `contract upstreams`, and a stale one stops the load.
        """
        if "upstreams" not in self._cache:
            from .contract.upstreams import verify_upstreams

            self._cache["upstreams"] = tuple(verify_upstreams(self))
        return self._cache["upstreams"]


def dbt_target() -> str:
    """The active dbt target: `DBT_TARGET`, "dev" when unset."""
    value = os.environ.get(DBT_TARGET_ENV, "dev")
    if value not in TARGETS:
        raise ValueError(f"{DBT_TARGET_ENV} must be one of {', '.join(TARGETS)}, got {value!r}.")
    return value


def find_root(start: Path) -> Path:
    """The product's root: the nearest folder at or above `start` whose pyproject.toml is a
    dg project (`[tool.dg]`)."""
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else list(start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "tool" in (config := _pyproject(pyproject)):
            if "dg" in config["tool"]:
                return folder
    raise ProductError(
        f"No data product around {start}: no pyproject.toml with a [tool.dg] table above it."
    )


def _pyproject(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def _declaration(root: Path) -> tuple[Path, dict[str, Any], str]:
    """(defs.yaml, its attributes, the root module) of the product's DataProduct component."""
    module = _pyproject(root / "pyproject.toml")["tool"]["dg"].get("project", {}).get("root_module")
    if not module:
        raise ProductError(f"{root / 'pyproject.toml'}: [tool.dg.project] names no root_module")
    defs = root / "src" / module / "defs"
    found = []
    for path in sorted(defs.rglob("defs.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("type") == PRODUCT_COMPONENT:
                found.append((path, document.get("attributes") or {}))
    if len(found) != 1:
        where = ", ".join(str(path.relative_to(root)) for path, _ in found) or "none"
        raise ProductError(
            f"A data product declares exactly one `type: {PRODUCT_COMPONENT}` in a defs.yaml "
            f"under {defs.relative_to(root)}; found {len(found)} ({where})."
        )
    return found[0][0], found[0][1], module


def resolve_path(root: Path, value: str) -> Path:
    """A path attribute: `{{ project_root }}` expanded, relative paths from the product's root."""
    text = re.sub(r"\{\{\s*project_root\s*\}\}", str(root), value)
    path = Path(text)
    return (path if path.is_absolute() else root / path).resolve()


def build_product(root: Path, attributes: dict[str, Any], module: str) -> Product:
    """The Product a DataProduct declaration describes; unknown attributes are refused."""
    known = {"contract", "upstreams", "dbt_project", "warehouse", "automation", "pool"}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise ProductError(
            f"Unknown DataProduct attribute(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return Product(
        root=root,
        contract_file=resolve_path(root, attributes.get("contract", "datacontract.yaml")),
        upstreams_file=resolve_path(root, attributes.get("upstreams", "upstreams.yaml")),
        dbt_dir=resolve_path(root, attributes.get("dbt_project", "dbt")),
        warehouse=attributes.get("warehouse", "duckdb"),
        automation=attributes.get("automation", "eager"),
        pool=attributes.get("pool") or f"{module}_duckdb",
        module=module,
    )


@functools.cache
def _product_at(root: Path) -> Product:
    path, attributes, module = _declaration(root)
    try:
        return build_product(root, attributes, module)
    except ProductError as error:
        raise ProductError(f"{path}: {error}") from None


def product_of(path: str | Path) -> Product:
    """The product a file belongs to, e.g. `product_of(__file__)` in a team's asset module."""
    return _product_at(find_root(Path(path)))

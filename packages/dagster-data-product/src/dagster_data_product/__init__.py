"""dagster-data-product: the machinery of a domain data product, as dg components.

A product built from the copier-data-product template holds what its team owns (dbt
models, the data contract, its own assets, a few `defs.yaml` files and its tests) and
declares the rest with this package's components:

- `DataProduct`: output ports with blocking checks, write-audit-publish and freshness from
  the contract; upstream products read through their contracts; automation; the warehouse.
- `DbtModels`: dagster-dbt's `DbtProjectComponent` with the product's keys and refresh.

Team code reads its product with `product_of(__file__)`, opens the warehouse through
the `warehouse` resource (`WarehouseResource`) and reports its steps' lineage with
`asset_lineage(context, product)`.
"""

import importlib

# Re-exported: `X as X` marks each name as part of the package's interface.
from .settings import Product as Product
from .settings import ProductError as ProductError
from .settings import product_of as product_of
from .version import __version__ as __version__

# The names that need Dagster are imported on first use, so that the `contract` command and
# code that only reads a contract or opens the warehouse start without importing Dagster.
_LAZY = {
    "DataProduct": ".components",
    "DbtModels": ".components",
    "WarehouseResource": ".resources",
    "asset_lineage": ".lineage",
    "load_product_defs": ".definitions",
    "refresh_condition": ".automation",
    "refresh_cron": ".automation",
    "source_condition": ".automation",
    "Warehouse": ".warehouse",
    "relation": ".warehouse",
}

__all__ = sorted([*_LAZY, "Product", "ProductError", "__version__", "product_of"])


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

"""dagster-data-product: the machinery of a domain data product, as dg components.

A product built from the copier-data-product template holds what its team owns (dbt
models, the data contract, its own assets, a few `defs.yaml` files and its tests) and
declares the rest with this package's components:

- `DataProduct`: output ports with blocking checks, write-audit-publish and freshness from
  the contract; upstream products read through their contracts; automation; the warehouse.
- `DbtModels`: dagster-dbt's `DbtProjectComponent` with the product's keys and refresh.

Team code reads its product with `product_of(__file__)` and opens the warehouse through
the `warehouse` resource (`WarehouseResource`).
"""

from .automation import refresh_condition, refresh_cron, source_condition
from .components import DataProduct, DbtModels
from .definitions import load_product_defs
from .resources import WarehouseResource
from .settings import Product, ProductError, product_of
from .version import __version__
from .warehouse import Warehouse, relation

__all__ = [
    "DataProduct",
    "DbtModels",
    "Product",
    "ProductError",
    "Warehouse",
    "WarehouseResource",
    "__version__",
    "load_product_defs",
    "product_of",
    "refresh_condition",
    "refresh_cron",
    "relation",
    "source_condition",
]

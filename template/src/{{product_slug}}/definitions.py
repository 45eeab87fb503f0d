from pathlib import Path

import dagster as dg
from dagster_data_product import load_product_defs


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under defs/ is this product's code location."""
    return load_product_defs(Path(__file__).parent / "defs")

"""Grow a rendered product's dbt project by N generated models, to measure how it scales.

    python bench/scale.py PRODUCT_DIR N

writes dbt/models/bench_generated/layer_K/ (replacing it if present). The models form
`LAYERS` layers of N / LAYERS models each:

- layer 0 reads the staging model stg_orders (every model a different slice of it);
- a model of layer k > 0 reads the model at the same position in layer k - 1, so the graph is
  N / LAYERS parallel chains, LAYERS deep; every `FAN_EVERY`th model also reads
  stg_customers (a fan-in from a second staging model);
- every `TABLE_EVERY`th model is a table, the others are views.

The depth is fixed rather than growing with N: DuckDB binds a view by expanding every view
under it, so a chain N deep would make dbt's run time grow with N squared and measure
DuckDB's binder instead of the orchestration. The models carry no YAML and no tests, so what
grows is the number of nodes, not the number of files the contract check reads.
"""

import shutil
import sys
from pathlib import Path

FOLDER = "bench_generated"
LAYERS = 10
FAN_EVERY = 7
TABLE_EVERY = 10


def model_name(index: int) -> str:
    return f"gen_{index:05d}"


def model_sql(index: int, width: int) -> str:
    layer, position = divmod(index, width)
    materialized = "table" if index % TABLE_EVERY == TABLE_EVERY - 1 else "view"
    parent = "stg_orders" if layer == 0 else model_name(index - width)
    lines = [
        f"{{{{ config(materialized='{materialized}') }}}}",
        "",
        "select",
        "    order_id,",
        "    customer_id,",
        "    product_id,",
        "    quantity,",
        "    status,",
        f"    {layer} as layer",
        f"from {{{{ ref('{parent}') }}}}",
    ]
    conditions = []
    if layer == 0:
        conditions.append(f"order_id % {width} = {position}")
    if index % FAN_EVERY == 0:
        conditions.append("customer_id in (select customer_id from {{ ref('stg_customers') }})")
    if conditions:
        lines.append("where " + "\n    and ".join(conditions))
    return "\n".join(lines) + "\n"


def generate(product_dir: Path, count: int) -> Path:
    if count % LAYERS:
        raise SystemExit(f"N must be a multiple of {LAYERS}, got {count}")
    width = count // LAYERS
    folder = product_dir / "dbt" / "models" / FOLDER
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for index in range(count):
        # One subfolder per layer, so a layer can be selected as `path:models/<folder>/layer_K`.
        layer = folder / f"layer_{index // width:02d}"
        layer.mkdir(exist_ok=True)
        (layer / f"{model_name(index)}.sql").write_text(model_sql(index, width))
    return folder


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    folder = generate(Path(argv[0]).resolve(), int(argv[1]))
    print(f"{argv[1]} models in {folder}")


if __name__ == "__main__":
    main(sys.argv[1:])

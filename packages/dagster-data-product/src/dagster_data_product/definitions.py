"""A product's definitions, loaded from its defs folder and kept while the environment holds."""

import functools
import os
from pathlib import Path

import dagster as dg


def load_product_defs(defs_folder: Path) -> dg.Definitions:
    """Everything under the product's `defs/` folder, as one code location.

    `dg launch` asks for the definitions about six times in one process (the job check, the
    repository data, the execution plan, ...), and each build turns the whole dbt manifest
    into assets again. The result is kept for as long as the environment, which decides
    where the product reads and writes, stays the same. A changed model or contract is
    picked up by a new process, as `dg dev` starts on reload.
    """
    return _load(Path(defs_folder).resolve(), frozenset(os.environ.items()))


@functools.lru_cache(maxsize=4)
def _load(defs_folder: Path, environment: frozenset[tuple[str, str]]) -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=defs_folder)

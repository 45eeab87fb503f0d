import functools
import os
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under defs/ is this product's code location."""
    return _load(frozenset(os.environ.items()))


# `dg launch` asks for the definitions about six times in one process (the job check, the
# repository data, the execution plan, ...), and each build turns the whole dbt manifest into
# assets again. The result is kept for as long as the environment, which decides where the
# product reads and writes, stays the same. A changed model or contract is picked up by a new
# process, as `dg dev` starts on reload; within one process the manifest is read once anyway.
@functools.lru_cache(maxsize=1)
def _load(environment: frozenset[tuple[str, str]]) -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)

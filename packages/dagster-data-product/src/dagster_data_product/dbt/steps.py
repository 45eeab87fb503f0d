"""A large dbt project as several steps, each building a bounded number of assets.

What Dagster does for each output of a step grows with the step's number of outputs: in one
step of 10,000 dbt models that bookkeeping, not dbt, takes most of the run. `plan_steps`
cuts the project's assets into steps of at most `size` assets:

- by dbt folder first (the asset's group: staging, marts, ...), so that a failure stops
  what reads the failed folder's step, not unrelated folders;
- in dependency order, with every asset in a step at or after the steps of its parents, so
  the steps never depend on each other in a circle and Dagster can order them;
- keeping chains of models together (each chain is walked from its last model back to its
  first), so a failed model stops as few other steps as possible;
- placing each check in the step that builds its asset, after every model the check reads
  (dbt's `relationships` test reads a second model), so a port's checks all run where its
  model is built.
"""

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError
from typing import TypeVar

import dagster as dg

K = TypeVar("K", bound=Hashable)


@dataclass
class Step:
    """One step of a split dbt project: its folder (group), its number in that folder."""

    group: str
    number: int
    specs: list[dg.AssetSpec] = field(default_factory=list)
    check_specs: list[dg.AssetCheckSpec] = field(default_factory=list)

    @property
    def suffix(self) -> str:
        """What the step's op name ends with: `<group>_<number>`, as an identifier."""
        return f"{re.sub(r'[^0-9A-Za-z_]', '_', self.group)}_{self.number}"


def dependency_order(parents: Mapping[K, Iterable[K]], name=str) -> list[K]:
    """Every key after its parents; each chain walked from its end, so it stays together.

    Keys are visited from the ones nothing depends on, in the order of `name`, depth first
    (without recursion: a chain may be thousands of models long). Raises `CycleError` when
    the parents form a circle.
    """
    children: dict[K, int] = defaultdict(int)
    for key, ups in parents.items():
        for up in ups:
            children[up] += 1
    starts = sorted((k for k in parents if not children[k]), key=name)
    visiting, done, order = set(), set(), []
    for start in starts:
        visiting.add(start)
        stack = [(start, iter(sorted(parents[start], key=name)))]
        while stack:
            key, ups = stack[-1]
            for up in ups:
                if up in visiting:
                    raise CycleError("the assets depend on each other in a circle", up)
                if up not in done:
                    visiting.add(up)
                    stack.append((up, iter(sorted(parents[up], key=name))))
                    break
            else:
                stack.pop()
                visiting.discard(key)
                done.add(key)
                order.append(key)
    if len(order) != len(parents):  # keys on a circle are reached from no start
        raise CycleError("the assets depend on each other in a circle")
    return order


def plan_steps(
    specs: Sequence[dg.AssetSpec], check_specs: Sequence[dg.AssetCheckSpec], size: int
) -> list[Step]:
    """The steps, in an order Dagster can run them in, of at most `size` assets each."""
    if size < 1:
        raise ValueError(f"a step must hold at least one asset, not {size}")
    by_key = {spec.key: spec for spec in specs}
    parents = {
        key: {dep.asset_key for dep in spec.deps if dep.asset_key in by_key}
        for key, spec in by_key.items()
    }
    # A check that reads other models goes after them, with its asset, where that makes
    # no circle.
    tied = {key: set(ups) for key, ups in parents.items()}
    for check_spec in check_specs:
        if check_spec.asset_key in tied:
            tied[check_spec.asset_key] |= {
                dep.asset_key for dep in check_spec.additional_deps
                if dep.asset_key in by_key and dep.asset_key != check_spec.asset_key
            }
    name = dg.AssetKey.to_user_string
    try:
        order = dependency_order(tied, name)
    except CycleError:
        order = dependency_order(parents, name)
    steps: list[Step] = []
    step_of: dict[dg.AssetKey, int] = {}
    open_step: dict[str, int] = {}
    numbers: dict[str, int] = defaultdict(int)
    for key in order:
        group = by_key[key].group_name or "default"
        earliest = max((step_of[up] for up in parents[key]), default=-1)
        index = open_step.get(group)
        if index is None or index < earliest or len(steps[index].specs) >= size:
            numbers[group] += 1
            steps.append(Step(group, numbers[group]))
            index = open_step[group] = len(steps) - 1
        steps[index].specs.append(by_key[key])
        step_of[key] = index
    readers: dict[dg.AssetKey, int] = {}
    for key in order:  # a source's check runs in the first step reading the source
        for dep in by_key[key].deps:
            readers[dep.asset_key] = min(readers.get(dep.asset_key, step_of[key]), step_of[key])
    for check_spec in check_specs:
        read = [check_spec.asset_key, *(dep.asset_key for dep in check_spec.additional_deps)]
        homes = [step_of[key] for key in read if key in step_of]
        home = max(homes) if homes else readers.get(check_spec.asset_key, 0)
        steps[home].check_specs.append(check_spec)
    return steps

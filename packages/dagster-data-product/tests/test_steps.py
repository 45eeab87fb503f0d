"""How a large dbt project is cut into steps (dbt/steps.py), on asset specs alone."""

from graphlib import CycleError

import dagster as dg
import pytest

from dagster_data_product.dbt.steps import dependency_order, plan_steps

RAW = dg.AssetKey(["sales", "raw", "orders"])


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["sales", name])


def spec(name: str, group: str, *parents: str | dg.AssetKey) -> dg.AssetSpec:
    deps = [p if isinstance(p, dg.AssetKey) else key(p) for p in parents]
    return dg.AssetSpec(key(name), group_name=group, deps=deps)


def chains(count: int, depth: int) -> list[dg.AssetSpec]:
    """`count` chains `depth` models deep under one staging model, as bench/scale.py makes."""
    specs = [spec("stg_orders", "staging", RAW)]
    for layer in range(depth):
        for chain in range(count):
            parent = "stg_orders" if layer == 0 else f"gen_{layer - 1}_{chain}"
            specs.append(spec(f"gen_{layer}_{chain}", "generated", parent))
    return specs


def step_index(steps) -> dict[dg.AssetKey, int]:
    return {s.key: i for i, step in enumerate(steps) for s in step.specs}


def assert_runnable(steps, specs) -> None:
    """Every asset in exactly one step; no step reads an asset of a later step."""
    where = step_index(steps)
    assert sorted(where, key=str) == sorted((s.key for s in specs), key=str)
    assert sum(len(step.specs) for step in steps) == len(specs)
    for s in specs:
        for dep in s.deps:
            if dep.asset_key in where:
                assert where[dep.asset_key] <= where[s.key], (dep.asset_key, s.key)


def test_no_step_holds_more_than_its_size_and_folders_stay_apart() -> None:
    specs = [*chains(10, 10), spec("fct_orders", "marts", "stg_orders")]
    steps = plan_steps(specs, [], size=30)
    assert_runnable(steps, specs)
    assert all(len(step.specs) <= 30 for step in steps)
    assert sorted(step.suffix for step in steps) == [
        "generated_1", "generated_2", "generated_3", "generated_4", "marts_1", "staging_1",
    ]
    for step in steps:
        assert {s.group_name for s in step.specs} == {step.group}


def test_a_chain_stays_in_one_step() -> None:
    """A failed model then stops the steps reading its chain, not every later step."""
    steps = plan_steps(chains(10, 10), [], size=30)
    where = step_index(steps)
    for chain in range(10):
        assert len({where[key(f"gen_{layer}_{chain}")] for layer in range(10)}) == 1


def test_a_check_reading_two_models_runs_with_its_asset_after_both() -> None:
    specs = [
        spec("stg_orders", "staging", RAW),
        spec("fct_orders", "marts", "stg_orders"),
        spec("dim_customers", "marts", "stg_orders"),
    ]
    relationships = dg.AssetCheckSpec(
        "customer_id_references_customers", asset=key("fct_orders"),
        additional_deps=[key("dim_customers")],
    )
    own = dg.AssetCheckSpec("order_id_is_unique", asset=key("fct_orders"))
    source = dg.AssetCheckSpec("raw_order_id_is_unique", asset=RAW)
    steps = plan_steps(specs, [relationships, own, source], size=1)
    assert_runnable(steps, specs)
    where = step_index(steps)
    assert where[key("dim_customers")] < where[key("fct_orders")]
    homes = {c.name: i for i, step in enumerate(steps) for c in step.check_specs}
    assert homes == {
        "customer_id_references_customers": where[key("fct_orders")],
        "order_id_is_unique": where[key("fct_orders")],
        # A source's test runs in the first step reading the source.
        "raw_order_id_is_unique": where[key("stg_orders")],
    }


def test_a_check_that_would_make_a_circle_still_runs_after_what_it_reads() -> None:
    """dim_customers reads fct_orders, and a check of fct_orders reads dim_customers: the
    check runs in dim_customers' step, after both are built."""
    specs = [
        spec("fct_orders", "marts", RAW),
        spec("dim_customers", "marts", "fct_orders"),
    ]
    check = dg.AssetCheckSpec(
        "customer_id_references_customers", asset=key("fct_orders"),
        additional_deps=[key("dim_customers")],
    )
    steps = plan_steps(specs, [check], size=1)
    assert_runnable(steps, specs)
    assert [c.name for c in steps[step_index(steps)[key("dim_customers")]].check_specs] == [
        "customer_id_references_customers"
    ]


def test_a_folder_read_back_by_an_earlier_folder_gets_a_later_step() -> None:
    """staging → marts → staging again: three steps, never a circle between them."""
    specs = [
        spec("stg_orders", "staging", RAW),
        spec("fct_orders", "marts", "stg_orders"),
        spec("stg_late", "staging", "fct_orders"),
    ]
    steps = plan_steps(specs, [], size=10)
    assert_runnable(steps, specs)
    assert [step.suffix for step in steps] == ["staging_1", "marts_1", "staging_2"]


def test_dependency_order_walks_long_chains_and_refuses_circles() -> None:
    chain = {i: ({i - 1} if i else set()) for i in range(20_000)}
    assert dependency_order(chain) == list(range(20_000))
    with pytest.raises(CycleError):
        dependency_order({"a": {"b"}, "b": {"a"}, "c": set()})
    with pytest.raises(ValueError, match="at least one asset"):
        plan_steps(chains(1, 1), [], size=0)


def _matched(selectors: list[str], fqn: list[str]) -> bool:
    """Whether dbt's `fqn:` method selects a node with this fqn."""
    from dbt.graph.selector_methods import QualifiedNameSelectorMethod

    method = QualifiedNameSelectorMethod.__new__(QualifiedNameSelectorMethod)
    return any(method.node_is_match(s.removeprefix("fqn:"), fqn, False) for s in selectors)


def test_compact_selectors_select_exactly_the_steps_models_in_dbt() -> None:
    """A step names its models to dbt by folder and name prefix; dbt's own matching then
    selects those models and nothing else: no other model, test or deeper folder."""
    import random

    from dagster_data_product.dbt.runner import compact_selectors

    project = "proj"
    models = [[project, "gen", "layer_0", f"gen_{i:05d}"] for i in range(300)]
    models += [[project, "gen", "layer_1", f"gen_{i:05d}"] for i in range(300, 600)]
    models += [[project, "marts", "fct_orders"], [project, "marts", "fct_orders_daily"],
               [project, "marts", "dim_customers"], [project, "marts", "deep", "fct_x"]]
    tests = [[project, "marts", "not_null_fct_orders_id"], [project, "gen", "layer_0", "gen_1"]]
    unit_tests = [[project, "marts", "fct_orders", "a_unit_test"]]
    manifest = {
        "nodes": {f"n{i}": {"fqn": fqn} for i, fqn in enumerate(models + tests)},
        "unit_tests": {"u": {"fqn": unit_tests[0]}},
    }
    rng = random.Random(7)
    cases = [
        models[:600],  # two whole folders
        models[40:170] + models[310:420],  # a run of names in each folder
        rng.sample(models, 77),
        [models[-4]],  # fct_orders but not fct_orders_daily
        models[-3:],  # fct_orders_daily, dim_customers and the deeper folder's model
    ]
    sizes = []
    for wanted in cases:
        selectors = compact_selectors(manifest, [tuple(f) for f in wanted])
        chosen = [f for f in models + tests if _matched(selectors, f)]
        assert sorted(chosen) == sorted(wanted), selectors
        sizes.append(len(selectors))
    # Whole folders are one pattern each (layer_0 also holds a test named gen_1); runs of
    # names a few patterns; scattered names one selector each, as before.
    assert compact_selectors(manifest, [tuple(f) for f in models[:600]]) == [
        "fqn:proj.gen.layer_0.gen_0*", "fqn:proj.gen.layer_1.*",
    ]
    assert sizes[1] == 24 and sizes[2] == 77  # against 240 and 77 names

"""The dg components a data product declares in its `defs.yaml` files.

- `DataProduct` declares the product once: its contract, upstreams, dbt project, engine,
  automation and pool. From the contract it builds each output port's publishing asset, the upstream ports it reads, the automation sensor, the warehouse
  resource and the in-process executor.
- `DbtModels` is dagster-dbt's `DbtProjectComponent` with the product's keys, owners,
  groups, automation and freshness; dbt runs on a thread, its events made by dagster-dbt.
  A project of more than `max_assets_per_step` assets runs as several steps (see
  `dbt/steps.py`).
"""

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.resolved.core_models import OpSpec
from dagster_dbt import DbtCliResource, DbtProject, DbtProjectComponent
from dagster_dbt.components.dbt_component_utils import DagsterDbtComponentTranslatorSettings

from .automation import automation_sensor, refresh_condition
from .contract.upstreams import published_vars
from .dbt.manifest import load_manifest, model_relation
from .dbt.process import export_profile_environment
from .dbt.runner import build, selection
from .dbt.steps import Step, plan_steps
from .lineage import Data, ending, schema_facet, step_runs
from .lineage import disabled as lineage_disabled
from .ports import PUBLISHED, port_definitions, stage_audited
from .resources import WarehouseResource
from .settings import Product, product_of
from .upstream_assets import upstream_definitions
from .version import check_template_version
from .warehouse import connect, spark_session

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}


@dataclass
class DataProduct(dg.Component, dg.Resolvable):
    """A data product, declared once: what its team owns and how it runs.

    Paths are relative to the product's root folder (or start with `{{ project_root }}`).
    The contract names the domain (the first part of every asset key), the owners and the
    freshness SLA; `warehouse` is the engine of the dbt `prod` target (development runs on
    DuckDB); `automation` is how assets refresh once their inputs change (`eager`, or
    `cron`: at most once per refresh interval); every step that opens the warehouse takes a
    slot of `pool` (default `<module>_duckdb`), so runs launched together queue.
    """

    contract: Annotated[str, dg.Resolver.default(description="The data contract (ODCS v3).")] = (
        "datacontract.yaml"
    )
    upstreams: Annotated[
        str, dg.Resolver.default(description="The upstream products read, and their pins.")
    ] = "upstreams.yaml"
    dbt_project: Annotated[str, dg.Resolver.default(description="The dbt project's folder.")] = (
        "dbt"
    )
    warehouse: Annotated[
        Literal["duckdb", "spark", "trino", "snowflake", "bigquery"],
        dg.Resolver.default(description="Engine of the dbt `prod` target."),
    ] = "duckdb"
    automation: Annotated[
        Literal["eager", "cron"],
        dg.Resolver.default(description="How assets refresh once their inputs have new data."),
    ] = "eager"
    pool: Annotated[
        str | None,
        dg.Resolver.default(description="Concurrency pool of every step opening the warehouse."),
    ] = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        product = product_of(context.project_root)
        check_template_version(product.root)
        return dg.Definitions.merge(
            port_definitions(product),
            upstream_definitions(product),
            dg.Definitions(
                sensors=[automation_sensor()],
                # Every step of a run writes the same warehouse, and on DuckDB the same file,
                # which admits one writer at a time: separate step processes would only wait
                # on each other, so the steps run in the run's own process.
                executor=dg.in_process_executor,
                resources={"warehouse": WarehouseResource(product_root=str(product.root))},
            ),
        )


def _default_translation_settings() -> DagsterDbtComponentTranslatorSettings:
    # Tests on the raw sources become checks on the ingestion asset that lands them.
    return DagsterDbtComponentTranslatorSettings(enable_source_tests_as_checks=True)


@dataclass
class DbtModels(DbtProjectComponent):
    """Every dbt model, seed and snapshot of the product as an asset; dbt tests as checks.

    Keys depend only on the domain and the node's name, never on the dbt target or schema,
    so they stay the same when the product moves to another engine: a source table
    `raw.orders` is `<domain>/raw/orders`, the key the ingestion materializes, and a model
    `fct_orders` is `<domain>/fct_orders`. A node may name its key in
    `meta.dagster.asset_key` (the sources generated for upstream ports do). Models refresh
    declaratively; the models behind the contract's ports carry its freshness SLA.
    """

    translation_settings: Annotated[
        DagsterDbtComponentTranslatorSettings | None,
        dg.Resolver.default(description="dagster-dbt's translation settings."),
    ] = field(default_factory=_default_translation_settings)
    include_metadata: Annotated[
        list[Literal["row_count", "column_metadata"]],
        dg.Resolver.default(
            description="What each materialization carries besides dbt's own results."
        ),
    ] = field(default_factory=lambda: ["row_count", "column_metadata"])
    max_assets_per_step: Annotated[
        int,
        dg.Resolver.default(
            description=(
                "Most models, seeds and snapshots one step builds. A larger project runs as "
                "several steps, cut by dbt folder in dependency order, each one dbt command."
            )
        ),
    ] = 500
    prepare_if_dev: Annotated[
        bool,
        dg.Resolver.default(
            description="Left off: the product prepares its manifest itself when it is stale."
        ),
    ] = False

    @property
    def product(self) -> Product:
        return self._product

    def build_defs_from_state(self, context: dg.ComponentLoadContext, state_path: Any):
        self._product = product_of(context.project_root)
        self._specs: dict[tuple[int, str], dg.AssetSpec] = {}
        self._split = False  # whether the project runs as several steps (dbt/steps.py)
        self._datasets: tuple[Mapping[str, Any], dict[dg.AssetKey, Data]] | None = None
        export_profile_environment(self._product)
        manifest = load_manifest(self._product)
        if not any(n["resource_type"] in _MATERIALIZED_TYPES for n in manifest["nodes"].values()):
            return dg.Definitions()  # a skeleton: no model yet
        if self.op is None:
            self.op = OpSpec(name=f"{self._product.domain}_dbt_models", pool=self._product.pool)
        if self.max_assets_per_step < 1:
            raise ValueError(
                f"max_assets_per_step of {context.path}/defs.yaml is {self.max_assets_per_step}:"
                " a step must build at least one asset."
            )
        defs = super().build_defs_from_state(context, state_path)
        (whole,) = defs.assets or ()
        self._split = len(list(whole.specs)) > self.max_assets_per_step
        if not self._split:
            return defs
        steps = plan_steps(list(whole.specs), list(whole.check_specs), self.max_assets_per_step)
        return dg.Definitions(assets=[self._step_assets(whole, step) for step in steps])

    def _step_assets(self, whole: dg.AssetsDefinition, step: Step) -> dg.AssetsDefinition:
        """One step of a split project: dagster-dbt's multi-asset for part of the assets."""

        @dg.multi_asset(
            specs=step.specs,
            check_specs=step.check_specs,
            can_subset=True,
            name=f"{whole.op.name}__{step.suffix}",
            op_tags=whole.op.tags,
            backfill_policy=whole.backfill_policy,
            pool=self.op.pool if self.op else None,
            # A check may belong to a model another step builds (see dbt/steps.py).
            allow_arbitrary_check_specs=True,
        )
        def _step(context: dg.AssetExecutionContext):
            yield from self.execute(context=context, dbt=DbtCliResource(self.dbt_project))

        return _step

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """dagster-dbt's spec with the product's key, group, owners and refresh."""
        memo = (id(manifest), unique_id)
        if memo not in self._specs:
            spec = super().get_asset_spec(manifest, unique_id, project)
            self._specs[memo] = self._product_spec(spec, self.get_resource_props(manifest, unique_id))
        return self._specs[memo]

    def _product_spec(self, spec: dg.AssetSpec, props: Mapping[str, Any]) -> dg.AssetSpec:
        product = self.product
        explicit = (props.get("meta") or {}).get("dagster", {}).get("asset_key")
        if explicit:
            key = dg.AssetKey(explicit)
        elif props["resource_type"] == "source":
            key = dg.AssetKey([product.domain, props["source_name"], props["name"]])
        else:
            key = dg.AssetKey([product.domain, props["name"]])
        if props["resource_type"] == "source":
            # Not an asset of this step: the key is what its consumers depend on.
            return spec.replace_attributes(key=key)
        fqn = props.get("fqn", [])
        freshness = None
        if props["name"] in {port.model for port in product.contract.ports}:
            freshness = dg.FreshnessPolicy.time_window(
                fail_window=timedelta(hours=product.contract.freshness_hours)
            )
        return spec.replace_attributes(
            key=key,
            # Grouped by their folder under models/ (staging, marts, ...).
            group_name=fqn[1] if len(fqn) > 2 else "models",
            owners=product.owners,
            description=props.get("description") or f"dbt {props['resource_type']} {props['name']}",
            automation_condition=refresh_condition(product),
            freshness_policy=freshness,
        )

    def get_cli_args(self, context: dg.AssetExecutionContext) -> list[str]:
        """`dbt build` (or the configured `cli_args`), with the published upstream ports' paths."""
        if self._split:
            # dagster-dbt resolves templated arguments inside its own single multi-asset only.
            if not all(isinstance(a, str) and "{{" not in a for a in self.cli_args):
                raise dg.Failure(
                    "cli_args with templates or option maps cannot be used by a dbt project run "
                    f"as several steps (more than max_assets_per_step={self.max_assets_per_step}"
                    " assets): write them as plain strings, or raise max_assets_per_step."
                )
            args = [str(a) for a in self.cli_args]
        else:
            args = super().get_cli_args(context)
        return [*args, *published_vars(self.product.upstreams())]

    def execute(self, context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """`dbt build` of the step's selection on a thread; dagster-dbt makes its events.

        Each table's row count and every model's columns and column lineage are fetched
        through dbt's adapter once dbt has built them, as `include_metadata` asks. When every
        check passed, each port's model built and tested here is snapshotted for this run's
        publishing step (see `stage_audited`).
        """
        product = self.product
        manifest = load_manifest(product)
        runs = step_runs(
            context, product, {} if lineage_disabled() else self._lineage_datasets(manifest),
            integration="DBT",
            job_type="MODEL",
        )
        with ending(runs):
            _require_published_upstreams(context, product)
            export_profile_environment(product)
            held = contextlib.nullcontext()
            if product.active_engine() == "duckdb":
                # The step holds the file from before dbt starts until it has staged the
                # ports: it waits here while another process has it open (see
                # `open_duckdb`), and dbt-duckdb, in this process, shares the open file.
                held = connect(product, "duckdb")
            elif product.active_engine() == "spark":
                # Start the session dbt's `session` method will share (see warehouse.py).
                spark_session(product)
            args = self.get_cli_args(context)
            args += selection(context, manifest, self.translator, self.dbt_project)
            with held:
                events = build(
                    context, args, manifest, self.translator, self.dbt_project,
                    self.include_metadata, reuse_parse=self._split,
                )
                checked: dict[dg.AssetKey, dict[str, bool]] = {}
                failed = False
                for event in events:
                    if isinstance(event, dg.Output):
                        key = context.assets_def.keys_by_output_name[event.output_name]
                        checked.setdefault(key, {})
                        if (run := runs.get(tuple(key.path))) is not None:
                            run.complete()
                    elif isinstance(event, dg.AssetCheckResult):
                        checked.setdefault(event.asset_key, {})[event.check_name] = event.passed
                        failed |= (
                            not event.passed and event.severity == dg.AssetCheckSeverity.ERROR
                        )
                    yield event
                if not failed:
                    # A failed check fails the step and blocks every port: nothing to stage.
                    stage_audited(
                        context, product, checked, lambda model: model_relation(manifest, model)
                    )

    def _lineage_datasets(self, manifest: Mapping[str, Any]) -> dict[dg.AssetKey, Data]:
        """Every node of the manifest as a dataset, with the columns its YAML declares.

        dbt-core records no column-level lineage in its manifest, so the models' events carry
        their schema but no column lineage facet. Worked out once per manifest: every step of
        a split project would otherwise pay for the whole project.
        """
        if self._datasets is not None and self._datasets[0] is manifest:
            return self._datasets[1]
        datasets = {}
        for unique_id, node in [*manifest["nodes"].items(), *manifest["sources"].items()]:
            if node["resource_type"] not in {*_MATERIALIZED_TYPES, "source"}:
                continue
            key = self.translator.get_asset_spec(manifest, unique_id, self.dbt_project).key
            columns = (node.get("columns") or {}).values()
            facet = schema_facet(
                (c["name"], c.get("data_type"), c.get("description")) for c in columns
            )
            datasets[key] = Data(tuple(key.path), {"schema": facet} if facet else {})
        self._datasets = (manifest, datasets)
        return datasets


def _require_published_upstreams(context: dg.AssetExecutionContext, product: Product) -> None:
    """Fail early, and clearly, when a selected model reads an upstream port not yet published."""
    needed = set()
    for key in context.selected_asset_keys:
        needed |= set(context.assets_def.asset_deps.get(key, ()))
    for upstream in product.upstreams():
        for port in upstream.ports:
            key = dg.AssetKey([upstream.contract.domain, PUBLISHED, port.name])
            if key in needed and not port.published_file.exists():
                raise dg.Failure(
                    f"Upstream port {key.to_user_string()} of {upstream.describe()} is not "
                    f"published yet ({port.published_file} does not exist). Materialize the "
                    f"producer first, e.g. `uv run dg launch --assets '*'` in its product."
                )

"""dbt run inside the step's own process, its results streamed as Dagster events.

Running dbt through its programmatic entry point (`dbtRunner`) instead of a `dbt`
subprocess saves a Python start-up, dbt's imports and a version probe on every run, keeps
dbt's partial parsing (the run folder `target/run` persists between runs), and shares the
process with the product's own warehouse connection: on Spark, dbt's `session` method
then uses the very Spark session the ingestion and the contract checks use.
"""

import gc
import os
import queue
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject
from ...product import dbt_environment

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}
_DONE = object()
# dbt keeps process-wide state while it runs: one invocation at a time per process.
_ONE_AT_A_TIME = threading.Lock()


def _fqn_selector(node: Mapping[str, Any]) -> str:
    return "fqn:" + ".".join(node["fqn"])


def _tested_node(manifest: Mapping[str, Any], test: Mapping[str, Any]) -> str | None:
    """The node a dbt test belongs to: its attached node, or its only parent."""
    if test.get("attached_node"):
        return test["attached_node"]
    parents = [
        parent
        for parent in test.get("depends_on", {}).get("nodes", [])
        if parent in manifest["nodes"] or parent in manifest["sources"]
    ]
    return parents[0] if len(parents) == 1 else None


class _Results:
    """Maps dbt's node results to the asset keys and check keys of one dbt asset."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        project: DbtProject,
    ):
        self.manifest = manifest
        self.translator = translator
        self.project = project
        self.selected_keys = context.selected_asset_keys
        self.selected_checks = context.selected_asset_check_keys

    def asset_key(self, unique_id: str) -> dg.AssetKey:
        return self.translator.get_asset_spec(self.manifest, unique_id, self.project).key

    def check_key(self, unique_id: str) -> dg.AssetCheckKey | None:
        test = self.manifest["nodes"].get(unique_id)
        parent = _tested_node(self.manifest, test) if test else None
        if parent is None:
            return None
        spec = self.translator.get_asset_spec(self.manifest, parent, self.project)
        check = self.translator.get_asset_check_spec(spec, self.manifest, unique_id, self.project)
        return check.key if check else None

    def events(
        self, result: Mapping[str, Any]
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """The Dagster events one finished dbt node stands for (none for unselected nodes)."""
        unique_id, status = result["unique_id"], result["status"]
        resource_type = unique_id.split(".", 1)[0]
        metadata = {
            "unique_id": unique_id,
            "status": status,
            "execution_duration": round(result["execution_time"], 3),
        }
        if resource_type in _MATERIALIZED_TYPES and status == "success":
            key = self.asset_key(unique_id)
            if key in self.selected_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        elif resource_type == "test":
            key = self.check_key(unique_id)
            if key is not None and key in self.selected_checks:
                if result["failures"] is not None:
                    metadata["dagster_dbt/failed_row_count"] = result["failures"]
                yield dg.AssetCheckResult(
                    asset_key=key.asset_key,
                    check_name=key.name,
                    passed=status == "pass",
                    severity=(
                        dg.AssetCheckSeverity.WARN
                        if status == "warn"
                        else dg.AssetCheckSeverity.ERROR
                    ),
                    metadata=metadata,
                )

    def selection(self, all_keys: set[dg.AssetKey], all_checks: set[dg.AssetCheckKey]) -> list[str]:
        """dbt `--select` arguments for what the step must run; empty for everything."""
        if self.selected_keys == all_keys and self.selected_checks == all_checks:
            return []
        selectors = []
        for unique_id, node in self.manifest["nodes"].items():
            if node["resource_type"] in _MATERIALIZED_TYPES:
                if self.asset_key(unique_id) in self.selected_keys:
                    selectors.append(_fqn_selector(node))
            elif node["resource_type"] == "test":
                key = self.check_key(unique_id)
                if key in self.selected_checks and key.asset_key not in self.selected_keys:
                    # A check run on its own, e.g. re-executed from the UI.
                    selectors.append(_fqn_selector(node))
        return ["--select", *selectors] if selectors else []


def _release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open in the process after a command.

    Left open, it would hold the file's lock until the process ends: another run's step,
    in another process, could not open the warehouse although the pool let it start.
    """
    if "dbt.adapters.duckdb" not in sys.modules:
        return
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()
    gc.collect()  # the connection closes the file when it is collected


class InProcessDbt(dg.ConfigurableResource):
    """Runs dbt commands in the current process against the product's dbt project."""

    project_dir: str
    #: dbt's output folder for runs, inside the project; kept apart from `target/`, which
    #: holds the manifest the definitions are built from, so a run never rewrites it.
    target_path: str = "target/run"

    def build(
        self,
        context: dg.AssetExecutionContext,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        project: DbtProject,
        extra_args: list[str] = (),
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """`dbt build` of the step's selection, yielding each result as dbt finishes it.

        Raises `dg.Failure` after the last result when any node failed or errored, naming
        each failed node with dbt's message.
        """
        results = _Results(context, manifest, translator, project)
        selection = results.selection(
            set(context.assets_def.keys), set(context.assets_def.check_keys)
        )
        args = ["build", *selection, *extra_args]
        failures = []
        for result in self._invoke(context, args):
            yield from results.events(result)
            if result["status"] in ("error", "fail", "runtime error"):
                failures.append(f"{result['unique_id']}: {result['status']}: {result['message']}")
        if failures:
            raise dg.Failure(
                description=f"dbt build failed on {len(failures)} node(s):\n" + "\n".join(failures),
                metadata={"failed_nodes": len(failures)},
            )

    def _invoke(self, context: dg.AssetExecutionContext, args: list[str]) -> Iterator[dict]:
        from dbt.cli.main import dbtRunner

        finished: queue.Queue = queue.Queue()

        def on_event(event: Any) -> None:
            # Called on dbt's worker threads; it must never raise, or dbt marks the node failed.
            try:
                if event.info.name == "NodeFinished":
                    run = event.data.run_result
                    finished.put(
                        {
                            "unique_id": event.data.node_info.unique_id,
                            "status": run.status,
                            "message": run.message,
                            "execution_time": run.execution_time,
                            "failures": run.num_failures
                            if run.status in ("fail", "warn")
                            else None,
                        }
                    )
            except Exception as error:  # noqa: BLE001 - reported, never raised into dbt
                finished.put({"callback_error": repr(error)})

        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = dbtRunner(callbacks=[on_event]).invoke(full_args)
            except BaseException as error:  # noqa: BLE001 - re-raised in the step's thread
                outcome["error"] = error
            finally:
                finished.put(_DONE)

        for name, value in dbt_environment().items():
            os.environ.setdefault(name, value)
        full_args = [
            *args,
            "--project-dir",
            self.project_dir,
            "--profiles-dir",
            self.project_dir,
            "--target-path",
            self.target_path,
        ]
        context.log.info("dbt " + " ".join(args))
        with _ONE_AT_A_TIME:
            worker = threading.Thread(target=run, name="dbt", daemon=True)
            worker.start()
            try:
                while (item := finished.get()) is not _DONE:
                    if "callback_error" in item:
                        context.log.warning(
                            f"A dbt event could not be read: {item['callback_error']}"
                        )
                        continue
                    yield item
                worker.join()
            finally:
                _release_duckdb()
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
        if result.exception is not None:
            raise dg.Failure(
                description=f"dbt {args[0]} could not run: {result.exception}",
            ) from result.exception

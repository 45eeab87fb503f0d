"""dbt run on a thread of the step's process, its results streamed as Dagster events.

dbt runs through its programmatic entry point (`dbtRunner`), not a `dbt` command: no new
interpreter, no second import of dbt, no version probe, and dbt's partial parsing kept in
the run folder `target/run` between runs. On Spark this also lets dbt's `session` method
use the very Spark session that the ingestion and the contract checks use.
"""

import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from ..contract.upstreams import published_vars
from ..settings import Product
from .process import export_profile_environment, release_duckdb

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}
_DONE_KEY = "__dbt_done__"
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
        elif resource_type == "test" and status != "skipped":
            # dbt skips the tests downstream of a failure; a skipped test says nothing about
            # the data, so it records no check result (as dagster-dbt does), never a failure.
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

    def selection(self) -> list[str]:
        """dbt `--select` arguments for what the step must run; empty for everything.

        What the step leaves out is found from the manifest: in a run of part of the graph,
        the step's `assets_def` holds only the selected assets, so comparing the selection
        with it would always find everything selected.
        """
        selectors, left_out = [], False
        for unique_id, node in self.manifest["nodes"].items():
            if node["resource_type"] in _MATERIALIZED_TYPES:
                if self.asset_key(unique_id) in self.selected_keys:
                    selectors.append(_fqn_selector(node))
                else:
                    left_out = True
            elif node["resource_type"] == "test":
                key = self.check_key(unique_id)
                if key is None:
                    continue  # not a check: dbt runs it with the models it tests
                if key not in self.selected_checks:
                    left_out = True
                elif key.asset_key not in self.selected_keys:
                    # A check run on its own, e.g. re-executed from the UI.
                    selectors.append(_fqn_selector(node))
        if not left_out:
            return []
        if not selectors:
            raise dg.Failure(
                "None of the step's selected assets and checks is in the dbt manifest: it "
                "changed after the run's definitions were loaded. Launch the run again."
            )
        return ["--select", *selectors]


class DbtRunner:
    """Runs `dbt build` for one step of a run, on a thread of the step's process."""

    #: dbt's output folder for runs, inside the project; kept apart from `target/`, which
    #: holds the manifest the definitions are built from, so a run never rewrites it.
    target_path = "target/run"

    def __init__(self, product: Product):
        self.product = product

    def build(
        self,
        context: dg.AssetExecutionContext,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        project: DbtProject,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """`dbt build` of the step's selection, yielding each result as dbt finishes it.

        Raises `dg.Failure` after the last result when any node failed or errored, naming
        each failed node with dbt's message.
        """
        results = _Results(context, manifest, translator, project)
        selection = results.selection()
        failures = []
        for result in self._invoke(context, ["build", *selection]):
            yield from results.events(result)
            if result["status"] in ("error", "fail", "runtime error"):
                failures.append(f"{result['unique_id']}: {result['status']}: {result['message']}")
        if failures:
            raise dg.Failure(
                description=f"dbt build failed on {len(failures)} node(s):\n" + "\n".join(failures),
                metadata={"failed_nodes": len(failures)},
            )

    def _common_args(self) -> list[str]:
        """The arguments every dbt command of a run shares; they also fix what dbt parses."""
        export_profile_environment(self.product)
        folder = str(self.product.dbt_dir)
        return [
            *published_vars(self.product.upstreams()),
            "--project-dir",
            folder,
            "--profiles-dir",
            folder,
            "--target-path",
            self.target_path,
        ]

    def _invoke(self, context: dg.AssetExecutionContext, args: list[str]) -> Iterator[dict]:
        context.log.info(f"dbt {' '.join(args)}")
        with _ONE_AT_A_TIME:
            for item in _in_thread([*args, *self._common_args()]):
                if "callback_error" in item:
                    context.log.warning(f"A dbt event could not be read: {item['callback_error']}")
                    continue
                yield item


def _node_result(event: Any) -> dict | None:
    """The result of a node dbt finished, as plain data; None for any other event."""
    if event.info.name != "NodeFinished":
        return None
    run = event.data.run_result
    return {
        "unique_id": event.data.node_info.unique_id,
        "status": run.status,
        "message": run.message,
        "execution_time": run.execution_time,
        "failures": run.num_failures if run.status in ("fail", "warn") else None,
    }


def _reporter(channel: Any) -> Any:
    def on_event(event: Any) -> None:
        # Called on dbt's worker threads; it must never raise, or dbt marks the node failed.
        try:
            if (item := _node_result(event)) is not None:
                channel.put(item)
        except Exception as error:  # noqa: BLE001 - reported, never raised into dbt
            channel.put({"callback_error": repr(error)})

    return on_event


def _outcome(result: Any) -> dict:
    return {
        _DONE_KEY: True,
        "exception": None if result.exception is None else str(result.exception),
    }


def _in_thread(full_args: list[str]) -> Iterator[dict]:
    """Run dbt on a thread of this process, streaming each finished node's result."""
    from dbt.cli.main import dbtRunner

    channel: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            channel.put(_outcome(dbtRunner(callbacks=[_reporter(channel)]).invoke(full_args)))
        except BaseException as error:  # noqa: BLE001 - reported to the step's thread
            channel.put({_DONE_KEY: True, "exception": repr(error)})

    worker = threading.Thread(target=run, name="dbt", daemon=True)
    worker.start()
    try:
        yield from _until_done(lambda: channel.get(timeout=1), worker.is_alive)
        worker.join()
    finally:
        release_duckdb()


def _until_done(get: Any, alive: Any) -> Iterator[dict]:
    while True:
        try:
            item = get()
        except queue.Empty:
            if not alive():
                raise dg.Failure("dbt stopped without reporting its end")
            continue
        if item.get(_DONE_KEY):
            if item["exception"] is not None:
                raise dg.Failure(description=f"dbt could not run: {item['exception']}")
            return
        yield item

"""dbt run from the step's own process, its results streamed as Dagster events.

dbt runs through its programmatic entry point (`dbtRunner`), not a `dbt` command: no new
interpreter, no second import of dbt, no version probe, and dbt's partial parsing kept in
the run folder `target/run` between runs. Where the engine allows it, dbt runs in a fork
of the run's process, which inherits dbt already imported and has a core and an
interpreter lock of its own while the step turns dbt's results into events. The fork is
made when the run starts: it parses the project while the ingestion runs, then waits for
the dbt step's command. On Spark dbt runs on a thread of the step's process instead,
because dbt's `session` method must use the very Spark session that the ingestion and the
contract checks use.
"""

import ctypes
import gc
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject
from pydantic import PrivateAttr

from ...contract.upstreams import published_vars
from ...dbt_process import dbt_ran_here, note_dbt_ran_here, release_duckdb
from ...product import active_engine, dbt_environment

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}
_DONE_KEY = "__dbt_done__"
#: Forking copies the step's process with dbt already imported; Linux forks safely.
_FORK_AVAILABLE = sys.platform.startswith("linux")
# dbt keeps process-wide state while it runs: one invocation at a time per process.
_ONE_AT_A_TIME = threading.Lock()
# Whether this process has frozen its objects before a fork (see `_start`).
_frozen = False


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


class EmbeddedDbt(dg.ConfigurableResource):
    """Runs dbt commands from the run's process (in a fork of it, or on a thread of it)."""

    project_dir: str
    #: dbt's output folder for runs, inside the project; kept apart from `target/`, which
    #: holds the manifest the definitions are built from, so a run never rewrites it.
    target_path: str = "target/run"

    _warm: Any = PrivateAttr(default=None)  # a parsing _DbtFork between set-up and the dbt step

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Start dbt as the run starts, when it will run in a fork: the fork parses the
        project while the first steps run, so the dbt step finds it ready to build."""
        if self._forks():
            self._warm = _DbtFork(self._common_args(), parse=True)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._warm is not None:
            self._warm.close()
            self._warm = None

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

    def _forks(self) -> bool:
        return _FORK_AVAILABLE and not dbt_ran_here() and active_engine() != "spark"

    def _common_args(self) -> list[str]:
        """The arguments every dbt command of a run shares; they also fix what dbt parses."""
        for name, value in dbt_environment().items():
            os.environ.setdefault(name, value)
        return [
            *published_vars(),
            "--project-dir",
            self.project_dir,
            "--profiles-dir",
            self.project_dir,
            "--target-path",
            self.target_path,
        ]

    def _invoke(self, context: dg.AssetExecutionContext, args: list[str]) -> Iterator[dict]:
        common = self._common_args()
        forked = self._forks()
        warm, self._warm = self._warm, None
        if warm is not None and (not forked or warm.common_args != common):
            warm.close()  # parsed for other arguments: of no use to this command
            warm = None
        where = (
            "in a fork that parsed the project as the run started"
            if warm is not None
            else "in a fork"
            if forked
            else "in this process"
        )
        context.log.info(f"dbt {' '.join(args)} ({where})")
        with _ONE_AT_A_TIME:
            if warm is not None:
                results = warm.run(args)
            elif forked:
                results = _DbtFork(common, parse=False).run(args)
            else:
                results = _in_thread([*args, *common])
            for item in results:
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
    """Run dbt on a thread of this process: dbt shares the process's Spark session."""
    from dbt.cli.main import dbtRunner

    note_dbt_ran_here()
    channel: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            channel.put(_outcome(dbtRunner(callbacks=[_reporter(channel)]).invoke(full_args)))
        except BaseException as error:  # noqa: BLE001 - reported to the step's thread
            channel.put({_DONE_KEY: True, "exception": repr(error)})

    worker = threading.Thread(target=run, name="dbt", daemon=True)
    worker.start()
    try:
        yield from _until_done(channel.get, lambda: worker.is_alive())
        worker.join()
    finally:
        release_duckdb()


def _stop_on_signals() -> None:
    """Let a fork stop when told to: it inherits the run's signal handlers, which turn
    SIGTERM and SIGINT into exceptions that dbt would catch and carry on after."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


#: Linux's prctl option that sends the calling process a signal when its parent dies.
_PR_SET_PDEATHSIG = 1


def _stop_with_parent(parent: int) -> None:
    """Have Linux stop this fork when the run's process dies, even when it is killed outright.

    A fork left alone would build on: it would hold the warehouse file, and write the run
    folder `target/run`, while the next run of the product tries to use them. The signal
    comes when the thread that started the fork ends; that thread drives the run the fork
    serves, so it ends after the fork's work is done.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the run's process died before the signal was asked for
        os._exit(1)


def _stop(process: Any) -> None:
    """Stop a fork that still runs, by force if it does not stop within seconds."""
    if process.is_alive():
        process.terminate()
        process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join()


def _start(process: Any) -> None:
    """Fork, the first time with the process's objects frozen, as `gc.freeze` documents.

    What the process holds at its first fork (Dagster, dbt, the definitions) lives as long
    as the process does. Frozen, no garbage collection walks it again: the fork's
    collections do not copy the memory pages it shares with the process, the process's own
    collections skip it, and so does the last one when the process exits (0.8 s of a
    default run). Only the first fork freezes, so what a long-lived process creates later
    is collected as usual.
    """
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True
    process.start()


def _forked_dbt(
    common_args: list[str], parse: bool, commands: Any, channel: Any, parent: int
) -> None:
    """The body of a dbt fork: parse first if asked, then run the one command it is sent,
    sending each result back as dbt reports it."""
    from dbt.cli.main import dbtRunner

    _stop_on_signals()
    _stop_with_parent(parent)
    manifest = None
    if parse:
        try:
            parsed = dbtRunner().invoke(["parse", "--quiet", *common_args])
            manifest = parsed.result if parsed.success else None
        except BaseException:  # noqa: BLE001 - the command then parses, and reports, itself
            manifest = None
    # Until the command comes, or the run's process is gone (checked here too, in case the
    # kernel refused the parent-death signal asked for above).
    while True:
        try:
            args = commands.get(timeout=1)
            break
        except queue.Empty:
            if os.getppid() != parent:
                return
    try:
        runner = dbtRunner(manifest=manifest, callbacks=[_reporter(channel)])
        channel.put(_outcome(runner.invoke([*args, *common_args])))
    except BaseException as error:  # noqa: BLE001 - reported to the step's process
        channel.put({_DONE_KEY: True, "exception": repr(error)})
    channel.close()
    channel.join_thread()


class _DbtFork:
    """A fork of the run's process that runs one dbt command.

    The fork inherits dbt already imported and has a core (and an interpreter lock) of its
    own while the step turns its results into events. Made with `parse`, it parses the
    project as soon as it starts (a parse opens no warehouse connection, so it runs
    alongside the ingestion, on the other core) and the command then skips parsing.
    """

    def __init__(self, common_args: list[str], parse: bool):
        import dbt.cli.main  # noqa: F401 - imported once here, inherited by the fork

        self.common_args = common_args
        context = multiprocessing.get_context("fork")
        self._commands = context.Queue()
        self._channel = context.Queue()
        self._process = context.Process(
            target=_forked_dbt,
            args=(common_args, parse, self._commands, self._channel, os.getpid()),
            name="dbt",
        )
        _start(self._process)

    def run(self, args: list[str]) -> Iterator[dict]:
        self._commands.put(args)
        try:
            yield from _until_done(
                lambda: self._channel.get(timeout=1), self._process.is_alive, self._process
            )
            self._process.join()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the fork if it still runs (an unused fork only waits for its command)."""
        _stop(self._process)


def _until_done(get: Any, alive: Any, child: Any = None) -> Iterator[dict]:
    while True:
        try:
            item = get()
        except queue.Empty:
            if not alive():
                code = child.exitcode if child is not None else None
                raise dg.Failure(f"dbt stopped without reporting its end (exit code {code})")
            continue
        if item.get(_DONE_KEY):
            if item["exception"] is not None:
                raise dg.Failure(description=f"dbt could not run: {item['exception']}")
            return
        yield item

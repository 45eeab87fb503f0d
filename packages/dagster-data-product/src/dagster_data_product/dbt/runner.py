"""dbt run on a thread of the step's process, read by dagster-dbt as it reads a dbt process.

dbt runs through its programmatic entry point (`dbtRunner`), not a `dbt` command: no second
interpreter importing dbt again, no `dbt --version` probe, and on Spark dbt's `session`
method uses the very Spark session the ingestion and the contract checks use (the embedded
metastore admits one process). Everything else is dagster-dbt's: `DbtThread` hands its
`DbtCliInvocation` what that class reads of a `dbt` process (the JSON log lines on `stdout`,
`wait()`, `returncode`), so dagster-dbt turns each result into Dagster events, attaches row
counts, columns and column lineage through dbt's adapter, and raises dbt's errors, exactly
as it does for a subprocess.
"""

import importlib.metadata
import json
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtProject
from packaging import version

from ..warehouse import sql_string

_MATERIALIZED_TYPES = {"model", "seed", "snapshot"}
# dbt keeps process-wide state while it runs: one invocation at a time per process.
_ONE_AT_A_TIME = threading.Lock()


class _Lines:
    """The log lines of a dbt run as a file of bytes lines; ends when the run has ended."""

    def __init__(self) -> None:
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self.closed = False

    def put(self, line: bytes | None) -> None:
        self._lines.put(line)

    def __iter__(self) -> Iterator[bytes]:
        while (line := self._lines.get()) is not None:
            yield line

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True


def _error_line(message: str) -> bytes:
    """A log line dagster-dbt reports as one of dbt's errors."""
    info = {"name": "DbtRunnerError", "level": "error", "msg": message, "invocation_id": ""}
    return json.dumps({"info": info, "data": {}}).encode()


class DbtThread:
    """One dbt command running on a thread of this process, seen as a `dbt` process.

    `stdout` gives dbt's structured log, one JSON line per event at dbt's default log level
    (info), exactly the lines `dbt --log-format json` prints; `returncode` is dbt's exit
    code (0 success, 1 a node failed, 2 dbt could not run). `adapter` is the adapter dbt
    registered for the run, once known (`wait_for_adapter`), for dagster-dbt's metadata.
    """

    def __init__(self, args: Sequence[str], manifest: Any = None):
        self.args = ["dbt", *args]
        self._manifest = manifest
        self.stdout = _Lines()
        self.returncode: int | None = None
        self.adapter: Any = None
        self._adapter_type: str | None = None
        self._adapter_known = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(list(args),), name="dbt")
        self._thread.daemon = True
        self._thread.start()

    def _run(self, args: list[str]) -> None:
        from dbt.cli.main import dbtRunner

        try:
            result = dbtRunner(manifest=self._manifest, callbacks=[self._on_event]).invoke(args)
            if result.exception is not None:
                self.stdout.put(_error_line(f"dbt could not run: {result.exception}"))
            self.returncode = 0 if result.success else 1 if result.exception is None else 2
        except BaseException as error:  # noqa: BLE001 - reported through the log, as dbt's
            self.stdout.put(_error_line(f"dbt could not run: {error!r}"))
            self.returncode = 2
        finally:
            self._adapter_known.set()
            self.stdout.put(None)

    def _on_event(self, event: Any) -> None:
        # Called on dbt's threads; it must never raise, or dbt marks the node failed.
        try:
            if event.info.name == "AdapterRegistered":
                self._adapter_type = event.data.adapter_name
            elif self._adapter_type is not None and self.adapter is None:
                self._find_adapter()
            if event.info.level != "debug":
                from dbt_common.events.functions import msg_to_json

                self.stdout.put(msg_to_json(event).encode())
        except Exception as error:  # noqa: BLE001 - reported, never raised into dbt
            self.stdout.put(_error_line(f"A dbt event could not be read: {error!r}"))

    def _find_adapter(self) -> None:
        from dbt.adapters.factory import get_adapter_by_type

        try:
            self.adapter = get_adapter_by_type(self._adapter_type)
        except Exception:  # noqa: BLE001 - registered just after its event: the next one finds it
            return
        self._adapter_known.set()

    def wait_for_adapter(self) -> Any:
        """The run's adapter, or None when dbt ended before registering one."""
        self._adapter_known.wait()
        return self.adapter

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """A thread cannot be signalled: dbt ends with the step's process."""


def _fqn_selector(node: Mapping[str, Any]) -> str:
    return "fqn:" + ".".join(node["fqn"])


#: Where the manifest keeps nodes dbt's `fqn:` method looks at, besides `nodes`.
_FQN_SECTIONS = ("nodes", "unit_tests", "exposures", "metrics", "semantic_models", "saved_queries")
_WILDCARDS = set("*?[]")


def _cover(prefix: str, names: list[str], wanted: set[str]) -> list[str]:
    """Glob patterns matching exactly the `wanted` of `names` (sorted, all starting with
    `prefix`): a pattern `<prefix>*` wherever every name under the prefix is wanted."""
    if all(name in wanted for name in names):
        return [prefix] if names == [prefix] else [prefix + "*"]
    patterns = [prefix] if prefix in wanted else []
    longer = [name for name in names if len(name) > len(prefix)]
    start = 0
    while start < len(longer):
        char = longer[start][len(prefix)]
        end = start
        while end < len(longer) and longer[end][len(prefix)] == char:
            end += 1
        branch = longer[start:end]
        if any(name in wanted for name in branch):
            patterns += _cover(prefix + char, branch, wanted)
        start = end
    return patterns


_Cache = dict[int, tuple[Mapping[str, Any], Any]]
_FOLDERS: _Cache = {}
_NODE_KEYS: _Cache = {}


def _per_manifest(cache: _Cache, manifest: Mapping[str, Any], compute) -> Any:
    """`compute(manifest)`, worked out once per manifest: every step of a split project
    reads the whole manifest, and would otherwise pay for the whole project again."""
    found = cache.get(id(manifest))
    if found is None or found[0] is not manifest:
        cache.clear()
        found = cache[id(manifest)] = (manifest, compute(manifest))
    return found[1]


def _folders(manifest: Mapping[str, Any]) -> dict[tuple[str, ...], list[str]]:
    """For each fqn prefix, the sorted rest of every fqn under it that dbt's `fqn:` matches."""
    universe: dict[tuple[str, ...], set[str]] = {}
    for section in _FQN_SECTIONS:
        for node in (manifest.get(section) or {}).values():
            fqn = node.get("fqn") or []
            for cut in range(1, len(fqn)):
                universe.setdefault(tuple(fqn[:cut]), set()).add(".".join(fqn[cut:]))
    return {folder: sorted(rest) for folder, rest in universe.items()}


def compact_selectors(manifest: Mapping[str, Any], fqns: list[tuple[str, ...]]) -> list[str]:
    """`fqn:` selectors matching exactly the nodes of `fqns` among the manifest's, in few words.

    dbt matches every selector against every node of the project, so a step naming each of
    its 500 models in a project of 10,000 spends minutes in dbt's selection alone. A model is
    named here by its folder and a pattern over the names in that folder, such as
    `fqn:proj.marts.*` for a whole folder or `fqn:proj.gen.gen_00[0-4]*`-like prefixes
    (`gen_000*`, `gen_001*`, ...) for a run of names, wherever the pattern matches nothing
    else dbt's `fqn:` method would (other models, tests, unit tests, deeper folders).
    """
    universe = _per_manifest(_FOLDERS, manifest, _folders)
    wanted: dict[tuple[str, ...], set[str]] = {}
    for fqn in fqns:
        wanted.setdefault(tuple(fqn[:-1]), set()).add(fqn[-1])
    selectors = []
    for folder, names in wanted.items():
        under = universe.get(folder, [])
        if not folder or any(_WILDCARDS & set(n) for n in under):
            selectors += ["fqn:" + ".".join((*folder, name)) for name in sorted(names)]
            continue
        selectors += ["fqn:" + ".".join((*folder, p)) for p in _cover("", under, names)]
    return selectors


def selection(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    project: DbtProject,
) -> list[str]:
    """dbt arguments selecting what the step must run; empty for everything.

    When the step runs part of the project (part of the graph, or one step of a project split
    into several), its models are selected by name and each test that is one of its checks
    explicitly; other tests run only when all the models they read are built here
    (`--indirect-selection cautious`), and a check left out of the run is excluded. So a test
    reading models of two steps runs once, in the step its check belongs to. In-process, dbt
    takes its arguments as a list, so a selection of thousands of nodes needs no selector
    file. What the step leaves out is found from the manifest: the step's `assets_def` holds
    only its own assets.
    """
    selected_keys = context.selected_asset_keys
    selected_checks = context.selected_asset_check_keys
    selectors, excluded, left_out = [], [], False
    assets, checks = _node_keys(manifest, translator, project)
    models = []
    for fqn, key in assets:
        if key in selected_keys:
            models.append(fqn)
        else:
            left_out = True
    if left_out:
        selectors += compact_selectors(manifest, models)
    for selector, key in checks:
        if key in selected_checks:
            selectors.append(selector)
        else:
            left_out = True
            if key.asset_key in selected_keys:
                excluded.append(selector)
    if not left_out:
        return []
    if not selectors:
        raise dg.Failure(
            "None of the step's selected assets and checks is in the dbt manifest: it "
            "changed after the run's definitions were loaded. Launch the run again."
        )
    return [
        "--select", *selectors, *(["--exclude", *excluded] if excluded else []),
        "--indirect-selection", "cautious",
    ]


def _node_keys(
    manifest: Mapping[str, Any], translator: DagsterDbtTranslator, project: DbtProject
) -> tuple[list[tuple[tuple[str, ...], dg.AssetKey]], list[tuple[str, dg.AssetCheckKey]]]:
    """Each asset node's fqn and each check's dbt selector, with their Dagster keys, once per
    manifest.

    Every step of a split project selects from the whole manifest; working the keys out
    again in each step would cost each step the size of the project.
    """
    return _per_manifest(
        _NODE_KEYS, manifest, lambda m: _keys_of_nodes(m, translator, project)
    )


def _keys_of_nodes(
    manifest: Mapping[str, Any], translator: DagsterDbtTranslator, project: DbtProject
) -> tuple[list[tuple[tuple[str, ...], dg.AssetKey]], list[tuple[str, dg.AssetCheckKey]]]:
    assets, checks = [], []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] in _MATERIALIZED_TYPES:
            key = translator.get_asset_spec(manifest, unique_id, project).key
            assets.append((tuple(node["fqn"]), key))
        elif node["resource_type"] == "test":
            check_key = _check_key(manifest, translator, project, unique_id)
            if check_key is not None:  # otherwise dbt runs it with the models it tests
                checks.append((_fqn_selector(node), check_key))
    return assets, checks


def _check_key(
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    project: DbtProject,
    unique_id: str,
) -> dg.AssetCheckKey | None:
    """The check a dbt test is, as dagster-dbt declares it (None: not a check)."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test

    return get_asset_check_key_for_test(manifest, translator, unique_id, project=project)


#: Flags of a dbt command that change what `dbt parse` makes of the project.
_PARSE_FLAGS = ("--vars", "--target", "--profile")
_PARSED: dict[tuple, Any] = {}


def _parsed_manifest(project: DbtProject, location: list[str], args: Sequence[str]) -> Any:
    """dbt's parsed project for the build `args`, parsed once per process (None on failure).

    The steps of a split project run one after another in the run's process: each would
    otherwise check every file of the project again before building its part (about 12 s
    for 10,000 models). dbt's programmatic entry point takes a parsed manifest for exactly
    this. The parse is done again when the manifest Dagster loaded, the target or the
    parse flags change.
    """
    from dbt.cli.main import dbtRunner

    flags = [
        arg for i, arg in enumerate(args)
        if arg in _PARSE_FLAGS or (i and args[i - 1] in _PARSE_FLAGS)
    ]
    manifest_file = Path(project.manifest_path)
    stamp = manifest_file.stat().st_mtime_ns if manifest_file.exists() else None
    key = (*location, *flags, os.environ.get("DBT_TARGET"), stamp)
    if key not in _PARSED:
        _PARSED.clear()
        result = dbtRunner().invoke(["parse", *flags, *location])
        _PARSED[key] = result.result if result.success else None
    return _PARSED[key]


def build(
    context: dg.AssetExecutionContext,
    args: Sequence[str],
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    project: DbtProject,
    include_metadata: Sequence[str],
    reuse_parse: bool = False,
) -> Iterator[Any]:
    """Run dbt with `args` on a thread; yield dagster-dbt's events for its results.

    With `reuse_parse`, dbt builds from the project as parsed once in this process (the
    steps of a split project, see `_parsed_manifest`). Raises dagster-dbt's
    `DagsterDbtCliRuntimeError`, with dbt's error messages, after the last event when dbt
    failed.
    """
    project_dir = Path(project.project_dir)
    target_path = project_dir / "target" / "run"
    location = [
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project.profiles_dir or project_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
    ]
    context.log.info(f"dbt {' '.join(args)}")
    working_folder = os.getcwd()
    with _ONE_AT_A_TIME:
        parsed = _parsed_manifest(project, location, args) if reuse_parse else None
        os.chdir(working_folder)
        dbt = DbtThread([*args, *location], manifest=parsed)
        invocation = DbtCliInvocation(
            process=dbt,  # type: ignore[arg-type] - read like a process, see DbtThread
            manifest=manifest,
            dagster_dbt_translator=translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=True,
            cli_version=version.parse(importlib.metadata.version("dbt-core")),
            project=project,
            context=context,
            adapter=_ExistingRelations.around(dbt.wait_for_adapter()),
        )
        if include_metadata:
            # dagster-dbt's metadata threads poll for work without pausing: while dbt runs
            # on a thread of this process, they would take its interpreter lock. Its lines
            # wait in `stdout` until dbt has ended, as they would on DuckDB anyway.
            dbt.wait()
        events = invocation.stream()
        if "column_metadata" in include_metadata:
            events = events.fetch_column_metadata()
        if "row_count" in include_metadata:
            events = events.fetch_row_counts()
        try:
            yield from events
        finally:
            dbt.wait()
            if dbt.adapter is not None:
                _close(dbt.adapter)
            # dbt, and dagster-dbt's metadata threads, change the process's working folder
            # to the dbt project while they work; the step's code expects its own back.
            os.chdir(working_folder)


class _ExistingRelations:
    """dbt's adapter, asking dbt whether a relation exists before reading its columns.

    dagster-dbt's `fetch_column_metadata` asks for the columns of every node it has an event
    for, dbt tests included, whose relations (in `dbt_test__audit`) are never built. dbt-duckdb
    answers with a database error whose traceback holds a DuckDB cursor in a reference
    cycle: the warehouse then stays open in this process until a garbage collection runs.
    A relation that does not exist is reported here, before any query, by an error that
    holds nothing: dagster-dbt logs it and leaves the event's metadata as it would.

    On DuckDB the columns of a whole schema come from one catalog query, the first time a
    relation of that schema is asked for, not from one `describe` per relation. dagster-dbt
    asks for each model's columns and its parents' once dbt has ended (see `run_dbt`), so
    the warehouse no longer changes; one step asks for thousands of relations in a large
    project. The names and types are DuckDB's catalog's, the very ones `describe` gives.
    Everything else is the adapter's own.
    """

    def __init__(self, adapter: Any):
        self._adapter = adapter
        self._by_schema = adapter.type() == "duckdb"
        self._schemas: dict[tuple[str, str], dict[str, list]] = {}
        self._reading = threading.Lock()

    @classmethod
    def around(cls, adapter: Any) -> Any:
        return None if adapter is None else cls(adapter)

    def get_columns_in_relation(self, relation: Any) -> list:
        if self._by_schema and relation.database and relation.schema:
            tables = self._schema_columns(relation.database, relation.schema)
            columns = tables.get(str(relation.identifier).lower())
            if columns is None:
                raise LookupError(f"{relation} does not exist in the warehouse")
            return list(columns)
        found = self._adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        )
        if found is None:
            raise LookupError(f"{relation} does not exist in the warehouse")
        return self._adapter.get_columns_in_relation(found)

    def _schema_columns(self, database: str, schema: str) -> dict[str, list]:
        """Every table's and view's columns in one schema, by lower-cased name, in order."""
        key = (database.lower(), schema.lower())
        with self._reading:
            if key not in self._schemas:
                _, rows = self._adapter.execute(
                    "select table_name, column_name, data_type from duckdb_columns()"
                    f" where lower(database_name) = {sql_string(key[0])}"
                    f" and lower(schema_name) = {sql_string(key[1])}"
                    " order by table_name, column_index",
                    fetch=True,
                )
                tables: dict[str, list] = {}
                for table, column, data_type in rows:
                    tables.setdefault(str(table).lower(), []).append(
                        self._adapter.Column(column, data_type, None, None, None)
                    )
                self._schemas[key] = tables
            return self._schemas[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)


def _close(adapter: Any) -> None:
    """Close every connection of the adapter dbt and dagster-dbt's queries used.

    dbt-duckdb keeps its database open for the whole process (`close_all_connections`
    lets it go): left open, it would hold the warehouse file's lock after the step.
    """
    adapter.cleanup_connections()
    close_all = getattr(adapter.connections, "close_all_connections", None)
    if close_all is not None:
        close_all()

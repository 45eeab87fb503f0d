"""OpenLineage events for the steps of a product's runs.

Every asset a step materializes is one OpenLineage job, and every materialization of it one
OpenLineage run: START when the step begins, COMPLETE when the asset is written, FAIL (with
the error) when it is not. Datasets are named after Dagster asset keys (docs/lineage.md):

- namespace `dataproduct://<domain>`, the first part of the key;
- name the key's parts joined by dots: `sales.raw.orders`, `sales.fct_orders`,
  `sales.published.orders`.

A consumer reads an upstream port under the producer's own key, so the dataset a consumer's
model reads is the very dataset the producer's publishing wrote, and a lineage backend joins
the two products' graphs.

The client is configured the way openlineage-python documents (`openlineage.yml`,
`OPENLINEAGE_CONFIG`, `OPENLINEAGE__TRANSPORT__*`, `OPENLINEAGE_URL`; `OPENLINEAGE_DISABLED=true`
turns it off). With none of these, events are appended as JSON lines to
`data/lineage/events.jsonl` in the product. A backend that cannot take an event never fails
a run: the step logs a warning once, and that process keeps its later events in
`data/lineage/undelivered.jsonl` instead of waiting on the backend again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .version import __version__

#: The product's folder for lineage events when no transport is configured.
LINEAGE_DIR = Path("data") / "lineage"
EVENTS_FILE = "events.jsonl"
UNDELIVERED_FILE = "undelivered.jsonl"
NAMESPACE_SCHEME = "dataproduct://"
PRODUCER = f"https://pypi.org/project/dagster-data-product/{__version__}/"

_log = logging.getLogger(__name__)


def namespace(domain: str) -> str:
    """The OpenLineage namespace of a domain's jobs and datasets."""
    return f"{NAMESPACE_SCHEME}{domain}"


def dataset_id(key: Sequence[str]) -> tuple[str, str]:
    """(namespace, name) of the dataset an asset key stands for."""
    parts = list(key)
    return namespace(parts[0]), ".".join(parts)


def disabled() -> bool:
    """`OPENLINEAGE_DISABLED=true`: no event is built, and the client is not even imported."""
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def _configured() -> bool:
    """Whether openlineage-python finds a configuration of its own."""
    env = os.environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return True
    if env.get("OPENLINEAGE_CONFIG") or env.get("OPENLINEAGE_URL"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in env):
        return True
    places = [Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml"]
    return any(place.is_file() for place in places)


def _key(key: Any) -> tuple[str, ...]:
    return tuple(key.path) if hasattr(key, "path") else tuple(key)


@dataclass
class Data:
    """A dataset as one event names it: an asset key and the facets known for it."""

    key: tuple[str, ...]
    facets: dict[str, Any] = field(default_factory=dict)
    input_facets: dict[str, Any] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return dataset_id(self.key)[0]

    @property
    def name(self) -> str:
        return dataset_id(self.key)[1]

    def as_input(self):
        from openlineage.client.event_v2 import InputDataset

        return InputDataset(
            namespace=self.namespace, name=self.name, facets=self.facets,
            inputFacets=self.input_facets,
        )

    def as_output(self):
        from openlineage.client.event_v2 import OutputDataset

        return OutputDataset(namespace=self.namespace, name=self.name, facets=self.facets)


def schema_facet(columns: Iterable[tuple[str, str | None, str | None]]):
    """The schema facet of (name, type, description) columns; None when there are none."""
    if disabled():
        return None
    from openlineage.client.facet_v2 import schema_dataset

    fields = [
        schema_dataset.SchemaDatasetFacetFields(
            name=name, type=kind or None, description=description or None, ordinal_position=i
        )
        for i, (name, kind, description) in enumerate(columns, 1)
    ]
    return schema_dataset.SchemaDatasetFacet(fields=fields) if fields else None


def identity_lineage_facet(source: Data, columns: Iterable[str]):
    """Column lineage of a copy: each column comes unchanged from the same column of `source`."""
    if disabled():
        return None
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    return cl.ColumnLineageDatasetFacet(
        fields={
            column: cl.Fields(
                inputFields=[
                    cl.InputField(
                        namespace=source.namespace, name=source.name, field=column,
                        transformations=[cl.Transformation(type="DIRECT", subtype="IDENTITY")],
                    )
                ]
            )
            for column in columns
        }
    )


class Lineage:
    """Emits a product's events through the configured client, never failing the caller."""

    def __init__(self, domain: str, owners: Sequence[str], folder: Path):
        self.domain = domain
        self.owners = list(owners)
        self.folder = Path(folder)
        self._client: Any = None
        self._down = False
        self._lock = threading.Lock()

    @classmethod
    def of(cls, product: Any) -> "Lineage":
        return cls(product.domain, product.owners, product.root / LINEAGE_DIR)

    # The client ----------------------------------------------------------------------

    def _make_client(self):
        from openlineage.client import OpenLineageClient

        if _configured():
            return OpenLineageClient()
        self.folder.mkdir(parents=True, exist_ok=True)
        return OpenLineageClient(
            config={
                "transport": {
                    "type": "file",
                    "log_file_path": str(self.folder / EVENTS_FILE),
                    "append": True,
                }
            }
        )

    def _keep(self, event: Any) -> None:
        """Keep an event the backend did not take, so that it can be sent again later."""
        from openlineage.client.serde import Serde

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / UNDELIVERED_FILE, "a") as file:
                file.write(Serde.to_json(event) + "\n")
        except OSError as error:
            _log.warning("Could not keep an undelivered lineage event: %r", error)

    def emit(self, event: Any, warn: Callable[[str], None] | None = None) -> None:
        """Send `event`; on any failure warn once and keep the event in undelivered.jsonl."""
        warn = warn or _log.warning
        with self._lock:
            if self._down:
                self._keep(event)
                return
            try:
                if self._client is None:
                    self._client = self._make_client()
                self._client.emit(event)
            except Exception as error:  # noqa: BLE001 - lineage never fails a run
                self._down = True
                warn(
                    f"Lineage backend unavailable ({error!r}); the run goes on. This process "
                    f"keeps its lineage events in {self.folder / UNDELIVERED_FILE}."
                )
                self._keep(event)

    # Runs ----------------------------------------------------------------------------

    def run(
        self,
        key: Sequence[str],
        *,
        parent: tuple[str, str] | None,
        inputs: Sequence[Data] = (),
        outputs: Sequence[Data] = (),
        job_type: str = "ASSET",
        integration: str = "DAGSTER",
        suffix: str = "",
        warn: Callable[[str], None] | None = None,
    ) -> "LineageRun":
        """One OpenLineage run of the job for asset `key`, within Dagster run `parent`
        ((job name, run id)); `suffix` names a job that is not the asset's own step."""
        return LineageRun(self, key, parent, list(inputs), list(outputs), job_type, integration,
                          suffix, warn)


class LineageRun:
    """The events of one materialization of one asset."""

    def __init__(self, lineage, key, parent, inputs, outputs, job_type, integration, suffix, warn):
        self.lineage = lineage
        ns, name = dataset_id(_key(key))
        self.job_namespace = ns
        self.job_name = name + (f".{suffix}" if suffix else "")
        self.parent = parent
        self.inputs = inputs
        self.outputs = outputs
        self.job_type = job_type
        self.integration = integration
        self.warn = warn
        seed = f"{parent[1] if parent else uuid.uuid4()}/{self.job_name}"
        self.run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE_SCHEME + seed))
        self.ended = False

    def _event(self, state: str, run_facets: dict[str, Any]):
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import job_type_job, ownership_job, parent_run

        facets = dict(run_facets)
        if self.parent:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.parent[1]),
                job=parent_run.Job(namespace=self.job_namespace, name=self.parent[0]),
            )
        owners = [
            ownership_job.Owner(name=owner, type="team" if owner.startswith("team:") else "user")
            for owner in self.lineage.owners
        ]
        job_facets = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration=self.integration, jobType=self.job_type
            ),
        }
        if owners:
            job_facets["ownership"] = ownership_job.OwnershipJobFacet(owners=owners)
        return RunEvent(
            eventType=getattr(RunState, state),
            eventTime=datetime.now(timezone.utc).isoformat(),
            run=Run(runId=self.run_id, facets=facets),
            job=Job(namespace=self.job_namespace, name=self.job_name, facets=job_facets),
            inputs=[data.as_input() for data in self.inputs],
            outputs=[data.as_output() for data in self.outputs],
            producer=PRODUCER,
        )

    def _send(self, state: str, run_facets: dict[str, Any] | None = None) -> None:
        if disabled():
            return
        try:
            event = self._event(state, run_facets or {})
        except Exception as error:  # noqa: BLE001 - lineage never fails a run
            (self.warn or _log.warning)(f"Could not build a lineage event: {error!r}")
            return
        self.lineage.emit(event, self.warn)

    def start(self) -> "LineageRun":
        self._send("START")
        return self

    def complete(self, outputs: Sequence[Data] | None = None,
                 inputs: Sequence[Data] | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.outputs = list(outputs) if outputs is not None else self.outputs
        self.inputs = list(inputs) if inputs is not None else self.inputs
        self._send("COMPLETE")

    def fail(self, error: BaseException | str) -> None:
        if self.ended:
            return
        self.ended = True
        if disabled():
            return
        from openlineage.client.facet_v2 import error_message_run

        if isinstance(error, BaseException):
            message = str(getattr(error, "description", None) or error) or repr(error)
            trace = "".join(traceback.format_exception(error))
        else:
            message, trace = error, None
        if not isinstance(error, Exception) and isinstance(error, BaseException):
            self._send("ABORT")
            return
        self._send(
            "FAIL",
            {
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message=message, programmingLanguage="PYTHON", stackTrace=trace
                )
            },
        )


# In a Dagster step -------------------------------------------------------------------------

_EMITTERS: dict[tuple, Lineage] = {}


def lineage_of(product: Any) -> Lineage:
    """The process's emitter for `product` (one client per product and configuration)."""
    settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("OPENLINEAGE")))
    memo = (str(product.root), product.domain, settings, os.getcwd())
    if memo not in _EMITTERS:
        _EMITTERS[memo] = Lineage.of(product)
    return _EMITTERS[memo]


def step_runs(
    context: Any,
    product: Any,
    datasets: Mapping[Any, Data] | None = None,
    keys: Iterable[Any] | None = None,
    job_type: str = "ASSET",
    integration: str = "DAGSTER",
    suffix: str = "",
) -> dict[tuple[str, ...], LineageRun]:
    """A started run for each asset the step materializes (or `keys`), its inputs being the
    asset's dependencies; `datasets` gives the facets of any dataset by asset key."""
    known = {_key(k): data for k, data in (datasets or {}).items()}

    def data(key: Any) -> Data:
        return known.get(_key(key)) or Data(_key(key))

    deps = context.assets_def.asset_deps
    parent = (context.run.job_name, context.run.run_id)
    warn = context.log.warning
    runs = {}
    for key in sorted(keys if keys is not None else context.selected_asset_keys,
                      key=lambda k: _key(k)):
        inputs = [data(dep) for dep in sorted(deps.get(key, ()), key=_key)]
        runs[_key(key)] = lineage_of(product).run(
            _key(key), parent=parent, inputs=inputs, outputs=[data(key)], job_type=job_type,
            integration=integration, suffix=suffix, warn=warn,
        ).start()
    return runs


@contextmanager
def ending(runs: dict[tuple[str, ...], LineageRun]) -> Iterator[dict[tuple[str, ...], LineageRun]]:
    """FAIL every run of a step when the block raises; COMPLETE those still open when it ends."""
    try:
        yield runs
    except BaseException as error:
        for run in runs.values():
            run.fail(error)
        raise
    for run in runs.values():
        run.complete()


@contextmanager
def asset_lineage(
    context: Any, product: Any, datasets: Mapping[Any, Data] | None = None
) -> Iterator[dict[tuple[str, ...], LineageRun]]:
    """Lineage of a team's own asset step: START for each asset it materializes, then
    COMPLETE when the block ends, or FAIL with the error when it raises.

        with asset_lineage(context, PRODUCT):
            ...
    """
    with ending(step_runs(context, product, datasets)) as runs:
        yield runs


def read_events(folder: Path) -> list[dict]:
    """The events written to a product's data/lineage/events.jsonl, in order."""
    path = Path(folder) / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

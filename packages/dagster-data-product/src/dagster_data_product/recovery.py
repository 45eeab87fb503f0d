"""Runs whose process died are failed and their pool slots freed, so the next run goes on.

A run killed outright (`kill -9`, out of memory, a laptop closed mid-run) never reports its
end: it stays STARTED on the instance and keeps the slot it holds in the product's pool,
so every later run waits for it forever. Where the instance launches runs as local
processes (`dg launch`, `dg dev`: Dagster's default run launcher), each run's process is
known from its RUN_START event; a run whose process no longer exists is marked failed with
a message naming the process, and its slots are freed. This happens when a run sets up
its resources, so recovery needs no daemon and takes no longer than the next run's start.
Instances whose launcher checks its runs' health itself (Kubernetes jobs) are left to
Dagster's run monitoring.
"""

import os

import dagster as dg

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def fail_dead_runs(instance: dg.DagsterInstance, current_run_id: str | None) -> list[str]:
    """Fail every unfinished run of `instance` whose local process is gone; return their ids."""
    if instance.run_launcher.supports_check_run_worker_health:
        return []
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        if run.run_id == current_run_id:
            continue
        pid = _run_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue  # not started yet, this process, or still running
        instance.report_run_failed(
            run, f"The run's process ({pid}) died without reporting its end; marked failed "
            "by the next run so that the pool slots it held are freed."
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed

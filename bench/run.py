"""Benchmark of a rendered data product against plain dbt.

    uv run python bench/run.py [--quick] [--json PATH] [--workdir DIR] [--keep] [--scale-timeout S]
                               [--only-scale MODELS ...] [--include-metadata WHAT ...]

Renders products from this checkout into a temporary folder, runs them and prints a table of
figures; with --json it also writes them to PATH. It measures, it never judges: a figure
over its target is printed as such and the exit code stays 0. The exit code is 1 only when
a command the benchmark depends on failed (a product test, a run), because the figures would
then describe something else than a working product.

What is measured (docs/performance.md explains each figure and how to read it):

1. copy_to_green_s: `copier copy --defaults` + `uv sync` + `uv run pytest`, after one
   untimed render+sync that warms uv's cache.
2. default_ratio / default_extra_s: `uv run dg launch --assets '*'` against
   bench/baseline.py (the same work without Dagster), each on a fresh DuckDB file.
3. scaleN_ratio: the same two commands after bench/scale.py added N models to dbt/;
   loadN_vs_parse: `defs()` in a fresh interpreter against `dbt parse`, both in total.
4. check_defs_s: `uv run dg check defs`; dev_first_page_s: `uv run dg dev` until
   /server_info answers.
5. registry200_s: `contract registry` over 200 generated products (bench/registry.py, which
   also runs on its own).

Quick mode (--quick) runs everything once, scales to 1000 models only and skips 10000.
--only-scale N ... renders one product and measures only item 3 for those model counts, one
run each: with --scale-timeout long enough, a 10,000-model run goes to its end.
--include-metadata sets what the rendered product's dbt steps attach to each materialization
(the `include_metadata` of defs/dbt/defs.yaml; `none` for nothing), to measure its share.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

TARGETS = {
    "default_extra_s": 5.0,
    "default_ratio": 2.0,
    "scale1000_ratio": 1.15,
    "scale10000_ratio": 1.30,
    "run_start10000_s": 30.0,
    "load10000_vs_parse": 1.0,
    "copy_to_green_s": 30.0,
    "check_defs_s": 5.0,
    "registry200_s": 10.0,
}

# Every process the benchmark starts carries this variable, so that cleanup finds them all,
# grandchildren included, and never touches anyone else's processes.
MARKER = "DATA_PRODUCT_BENCH_ID"
RUN_ID = uuid.uuid4().hex
_T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# processes


def product_env(**extra: str) -> dict[str, str]:
    """The environment of a product command: the caller's, minus what would redirect it."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The benchmark itself runs in the template's uv environment; the product has its own.
        # The product's variables are set per command, so none leaks in from the caller.
        if key not in {"VIRTUAL_ENV", "DUCKDB_PATH", "PUBLISH_DIR", "DAGSTER_HOME"}
    }
    env[MARKER] = RUN_ID
    env.update(extra)
    return env


def _marked_pids() -> list[int]:
    needle = f"{MARKER}={RUN_ID}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_leftovers() -> None:
    """Stop every process this benchmark started that is still alive, by pid."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _marked_pids()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _marked_pids():
            time.sleep(0.2)


atexit.register(kill_leftovers)


def _stop_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group the benchmark created for `process`, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Runner:
    """Runs commands with their output in one log file each, and times them."""

    def __init__(self, workdir: Path):
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.failures: list[str] = []

    def log_path(self, name: str) -> Path:
        self.count += 1
        return self.logs / f"{self.count:02d}-{name}.log"

    def run(
        self,
        name: str,
        command: list[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        timeout: float = 3600,
        check: bool = True,
        timeout_is_failure: bool = True,
    ) -> tuple[float, int | None, Path]:
        """(seconds, exit code or None on timeout, log file) of one command.

        A command stopped at a timeout that was meant as a cap on a measurement
        (`timeout_is_failure=False`) is not a failure: the benchmark never fails on a time.
        """
        path = self.log_path(name)
        with path.open("w") as out:
            out.write(f"$ {' '.join(command)}   (in {cwd})\n")
            out.flush()
            start = time.perf_counter()
            # A session of its own, so a timeout stops the whole tree the command started.
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env or product_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                code: int | None = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop_group(process)
                code = None
            elapsed = time.perf_counter() - start
        if code is None and not timeout_is_failure:
            log(f"  {name} stopped after {elapsed:.0f}s, as capped: see {path}")
        elif code != 0 and check:
            what = "timed out" if code is None else f"exited {code}"
            self.failures.append(f"{name} {what}, see {path}")
            log(f"  {name} {what}: see {path}")
        return elapsed, code, path


# ---------------------------------------------------------------------------------------
# helpers


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def copier_command() -> list[str]:
    found = Path(sys.executable).with_name("copier")
    return [str(found)] if found.exists() else [sys.executable, "-m", "copier"]


def render(runner: Runner, dest: Path, name: str) -> float:
    if dest.exists():
        shutil.rmtree(dest)
    command = [*copier_command(), "copy", "--defaults", "--quiet"]
    if (ROOT / ".git").exists():
        # The working tree as it is, uncommitted edits included, not the latest tag.
        command += ["--vcs-ref", "HEAD"]
    seconds, _, _ = runner.run(name, [*command, str(ROOT), str(dest)], cwd=ROOT)
    return seconds


def set_include_metadata(product: Path, what: list[str]) -> None:
    """Give the product's dbt component `include_metadata: what` (`none`: an empty list)."""
    defs_yaml = product / "src" / package_of(product) / "defs" / "dbt" / "defs.yaml"
    text = defs_yaml.read_text()
    rendered = text.rstrip().endswith('project: "{{ project_root }}/dbt"')
    if "include_metadata:" in text or not rendered:
        raise SystemExit(
            f"{defs_yaml} is not as rendered (its last line is not `project: ...`, or it sets"
            " include_metadata already): cannot set include_metadata"
        )
    chosen = [] if what == ["none"] else what
    defs_yaml.write_text(text.rstrip() + f"\n  include_metadata: {json.dumps(chosen)}\n")


def package_of(product: Path) -> str:
    return next(p.name for p in (product / "src").iterdir() if (p / "definitions.py").exists())


def fresh_data_env(base: Path, label: str) -> dict[str, str]:
    """DUCKDB_PATH and PUBLISH_DIR in a new empty folder (both must be absolute)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=base))
    return product_env(
        DUCKDB_PATH=str(folder / "warehouse.duckdb"), PUBLISH_DIR=str(folder / "published")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_STEP_RE = re.compile(r' - (\S+) - STEP_SUCCESS - Finished execution of step "[^"]+" in (\S+)\.$')
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _duration(text: str) -> float:
    """Seconds of a Dagster duration such as 213ms, 1.29s or 7m54s."""
    return sum(
        float(number) * _UNITS[unit] for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", text)
    )


def dagster_steps(log_file: Path) -> dict[str, float]:
    """Seconds of each step of a `dg launch` run, from its event log lines."""
    steps = {}
    for line in log_file.read_text(errors="replace").splitlines():
        match = _STEP_RE.search(line.rstrip())
        if match:
            steps[match.group(1)] = _duration(match.group(2))
    return steps


_STAMP_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [+-]\d{4} - dagster - ")


def run_start(log_file: Path, seconds: float) -> float | None:
    """Seconds from the command to the run's first step starting, to about a second.

    Dagster stamps its lines to the second: the time from the first STEP_START line to the
    last stamped line is taken off the command's whole time.
    """
    first = last = None
    for line in log_file.read_text(errors="replace").splitlines():
        match = _STAMP_RE.match(line)
        if match:
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
            if first is None and "STEP_START" in line:
                first = stamp
            last = stamp
    if first is None or last is None:
        return None
    return max(0.0, seconds - (last - first).total_seconds())


def baseline_steps(log_file: Path) -> dict[str, float]:
    for line in reversed(log_file.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    return {}


# ---------------------------------------------------------------------------------------
# the measurements


def machine_info(runner: Runner, product: Path) -> dict:
    info = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
        info["memory_gib"] = round(kib / 1024 / 1024, 1)
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
        if model:
            info["cpu"] = model.group(1).strip()
    except (OSError, AttributeError):
        pass
    script = (
        "import json, platform\n"
        "from importlib.metadata import version\n"
        "names = ['dagster', 'dagster-dbt', 'dbt-core', 'dbt-duckdb', 'duckdb']\n"
        "print(json.dumps({'python': platform.python_version(),"
        " **{n: version(n) for n in names}}))\n"
    )
    _, code, path = runner.run("versions", ["uv", "run", "python", "-c", script], cwd=product)
    if code == 0:
        versions = json.loads(path.read_text().splitlines()[-1])
        info["python"] = versions.pop("python")
        info["dagster"] = versions["dagster"]
        info["dbt"] = versions["dbt-core"]
        info["versions"] = versions
    uv_version = subprocess.run(["uv", "--version"], check=False, capture_output=True, text=True)
    info["uv"] = uv_version.stdout.strip()
    return info


def copy_to_green(runner: Runner, workdir: Path, runs: int) -> tuple[dict, Path]:
    """Render + sync + pytest, `runs` times; returns the figures and the last product."""
    log("copy_to_green: untimed warm-up render + uv sync")
    warm = workdir / "warmup"
    render(runner, warm, "warmup-render")
    runner.run("warmup-sync", ["uv", "sync"], cwd=warm)
    shutil.rmtree(warm, ignore_errors=True)

    totals, phases = [], {"render_s": [], "sync_s": [], "pytest_s": []}
    product = workdir
    for index in range(runs):
        dest = workdir / f"green-{index}"
        render_s = render(runner, dest, f"green{index}-render")
        sync_s, _, _ = runner.run(f"green{index}-sync", ["uv", "sync"], cwd=dest)
        pytest_s, code, _ = runner.run(
            f"green{index}-pytest",
            ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=dest,
        )
        total = render_s + sync_s + pytest_s
        log(
            f"  copy_to_green run {index + 1}/{runs}: {total:.1f}s (render {render_s:.1f}s,"
            f" sync {sync_s:.1f}s, pytest {pytest_s:.1f}s{'' if code == 0 else ', FAILED'})"
        )
        if code == 0:
            totals.append(total)
        for key, value in zip(phases, (render_s, sync_s, pytest_s)):
            phases[key].append(value)
        if index < runs - 1:
            shutil.rmtree(dest, ignore_errors=True)
        product = dest
    figures = {
        "copy_to_green_s": median(totals),
        "copy_to_green_runs_s": totals,
        **{f"copy_to_green_{k}": median(v) for k, v in phases.items()},
    }
    return figures, product


def materialize_pair(
    runner: Runner, product: Path, data: Path, label: str, runs: int, timeout: float
) -> dict:
    """`dg launch --assets '*'` against bench/baseline.py, alternating, `runs` times each."""
    dagster, baseline, dagster_step_runs, baseline_step_runs = [], [], [], []
    starts = []
    timed_out = False
    for index in range(runs):
        pair = [
            ("baseline", ["uv", "run", "python", str(BENCH / "baseline.py")]),
            ("dagster", ["uv", "run", "dg", "launch", "--assets", "*"]),
        ]
        # Alternate which goes first, so a slow phase of the machine hits both sides alike.
        for side, command in pair if index % 2 == 0 else pair[::-1]:
            # The baseline is never capped on purpose; this only stops a hung command.
            limit = 3600.0
            if side == "dagster":
                limit = (
                    timeout if timeout > 0 else max(300.0, -timeout * (median(baseline) or 300.0))
                )
            seconds, code, path = runner.run(
                f"{label}-{side}{index}",
                command,
                cwd=product,
                env=fresh_data_env(data, f"{label}-{side}"),
                timeout=limit,
                timeout_is_failure=side != "dagster",
            )
            if side == "dagster":
                if code is None:
                    timed_out = True
                    dagster.append(seconds)
                elif code == 0:
                    dagster.append(seconds)
                    dagster_step_runs.append(dagster_steps(path))
                if (start := run_start(path, seconds)) is not None:
                    starts.append(start)
            elif code == 0:
                baseline.append(seconds)
                baseline_step_runs.append(baseline_steps(path))
            note = " (TIMED OUT)" if code is None else ("" if code == 0 else " (FAILED)")
            log(f"  {label} {side} run {index + 1}/{runs}: {seconds:.1f}s{note}")
    d, b = median(dagster), median(baseline)
    result = {
        "dagster_s": d,
        "baseline_s": b,
        "dagster_runs_s": dagster,
        "baseline_runs_s": baseline,
        "ratio": d / b if d and b else None,
        "extra_s": d - b if d and b else None,
        "dagster_timed_out": timed_out,
        "run_start_s": median(starts),
    }
    if dagster_step_runs:
        last = dagster_step_runs[-1]
        result["dagster_steps_s"] = last
        if not timed_out and len(dagster) == len(dagster_step_runs):
            result["dagster_outside_steps_s"] = median(
                [t - sum(s.values()) for t, s in zip(dagster, dagster_step_runs)]
            )
    if baseline_step_runs:
        result["baseline_steps_s"] = baseline_step_runs[-1]
    return result


def check_defs(runner: Runner, product: Path, runs: int) -> dict:
    times = []
    for index in range(runs):
        seconds, code, _ = runner.run(
            f"check-defs{index}", ["uv", "run", "dg", "check", "defs"], cwd=product
        )
        if code == 0:
            times.append(seconds)
    return {"check_defs_s": median(times), "check_defs_runs_s": times}


_LOCATIONS_QUERY = (
    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus"
    " locationOrLoadError { __typename } } } } }"
)


def _get(url: str, body: bytes | None = None) -> bytes | None:
    headers = {"Content-Type": "application/json"} if body else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=5
        ) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def dev_first_page(runner: Runner, product: Path, timeout: float = 300) -> dict:
    """Start `dg dev`, wait for /server_info, then for the code location to be loaded."""
    port = free_port()
    path = runner.log_path("dg-dev")
    figures: dict = {"dev_first_page_s": None, "dev_location_loaded_s": None}
    with path.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            ["uv", "run", "dg", "dev", "--port", str(port), "--host", "127.0.0.1"],
            cwd=product,
            env=product_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            while time.perf_counter() - start < timeout and process.poll() is None:
                if figures["dev_first_page_s"] is None:
                    if _get(f"{base}/server_info") is not None:
                        figures["dev_first_page_s"] = time.perf_counter() - start
                        continue
                else:
                    raw = _get(f"{base}/graphql", json.dumps({"query": _LOCATIONS_QUERY}).encode())
                    entries = []
                    if raw:
                        data = json.loads(raw).get("data") or {}
                        entries = (data.get("workspaceOrError") or {}).get("locationEntries") or []
                    if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                        figures["dev_location_loaded_s"] = time.perf_counter() - start
                        figures["dev_location_ok"] = all(
                            (e.get("locationOrLoadError") or {}).get("__typename")
                            == "RepositoryLocation"
                            for e in entries
                        )
                        break
                time.sleep(0.1)
        finally:
            _stop_group(process)
    if figures["dev_first_page_s"] is None:
        runner.failures.append(f"dg dev never answered /server_info, see {path}")
    return figures


def load_vs_parse(runner: Runner, product: Path, label: str, runs: int) -> dict:
    """dbt parse (full, then unchanged) against loading the definitions, in fresh interpreters."""
    package = package_of(product)
    dbt_dir = product / "dbt"
    # The first parse after the models were added: no usable partial-parse state.
    full_s, _, _ = runner.run(f"{label}-parse-first", ["uv", "run", "dbt", "parse"], cwd=dbt_dir)
    parse, load, floor = [], [], []
    load_code = f"from {package}.definitions import defs; defs()"
    for index in range(runs):
        seconds, code, _ = runner.run(
            f"{label}-parse{index}", ["uv", "run", "dbt", "parse"], cwd=dbt_dir
        )
        if code == 0:
            parse.append(seconds)
        seconds, code, _ = runner.run(
            f"{label}-load{index}", ["uv", "run", "python", "-c", load_code], cwd=product
        )
        if code == 0:
            load.append(seconds)
        seconds, code, _ = runner.run(
            f"{label}-import-floor{index}",
            ["uv", "run", "python", "-c", "import dagster, dagster_dbt"],
            cwd=product,
        )
        if code == 0:
            floor.append(seconds)
    parse_s, load_s, floor_s = median(parse), median(load), median(floor)
    return {
        "parse_first_s": full_s,
        "parse_s": parse_s,
        "load_s": load_s,
        "import_floor_s": floor_s,
        "load_net_s": load_s - floor_s if load_s and floor_s else None,
        "load_vs_parse": load_s / parse_s if load_s and parse_s else None,
    }


def scale(
    runner: Runner, product: Path, data: Path, count: int, runs: int, timeout: float, load_runs: int
) -> dict:
    log(f"scale{count}: generating {count} models")
    runner.run(
        f"scale{count}-generate",
        [sys.executable, str(BENCH / "scale.py"), str(product), str(count)],
        cwd=ROOT,
    )
    result = load_vs_parse(runner, product, f"scale{count}", load_runs)
    log(
        f"  scale{count}: dbt parse first {result['parse_first_s']:.1f}s, unchanged"
        f" {result['parse_s'] or float('nan'):.1f}s; defs() {result['load_s'] or float('nan'):.1f}s"
        f" (imports alone {result['import_floor_s'] or float('nan'):.1f}s)"
    )
    result.update(
        {
            f"materialize_{k}": v
            for k, v in materialize_pair(
                runner, product, data, f"scale{count}", runs, timeout
            ).items()
        }
    )
    return result


# ---------------------------------------------------------------------------------------
# report


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def registry_build(runner: Runner) -> dict:
    """registry200_s from bench/registry.py, run with the benchmark's own Python."""
    _, code, path = runner.run(
        "registry200", [sys.executable, str(BENCH / "registry.py")], cwd=ROOT
    )
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        return {"registry200_s": None}
    return {"registry200_s": json.loads(lines[-1])["registry200_s"]}


def print_table(figures: dict, machine: dict) -> None:
    rows = [
        ("copy_to_green_s", "render + uv sync + pytest (s)"),
        ("default_ratio", "dg launch / baseline, default product"),
        ("default_extra_s", "dg launch - baseline, default product (s)"),
        ("scale1000_ratio", "dg launch / baseline, +1000 models"),
        ("scale10000_ratio", "dg launch / baseline, +10000 models"),
        ("run_start10000_s", "dg launch to its first step, +10000 models (s)"),
        ("load10000_vs_parse", "defs() / dbt parse, +10000 models"),
        ("check_defs_s", "dg check defs (s)"),
        ("registry200_s", "contract registry, 200 products (s)"),
    ]
    print()
    print(f"{'figure':<22} {'value':>10} {'target':>9}  {'met':<4} what")
    print("-" * 96)
    for key, what in rows:
        value = figures.get(key)
        target = TARGETS[key]
        lower_bound = figures.get(f"{key}_is_lower_bound")
        shown = ("≥" if lower_bound else "") + fmt(value)
        met = "n/a" if value is None else ("yes" if value <= target and not lower_bound else "no")
        print(f"{key:<22} {shown:>10} {'≤ ' + fmt(target):>9}  {met:<4} {what}")
    print()
    extras = [
        ("default_dagster_s", "dg launch, default product (s)"),
        ("default_baseline_s", "baseline, default product (s)"),
        ("dagster_outside_steps_s", "dg launch time outside its steps (s)"),
        ("import_floor_s", "python -c 'import dagster, dagster_dbt' (s)"),
        ("dev_first_page_s", "dg dev until /server_info answers (s)"),
        ("dev_location_loaded_s", "dg dev until the code location is loaded (s)"),
        ("scale1000_dagster_s", "dg launch, +1000 models (s)"),
        ("scale1000_baseline_s", "baseline, +1000 models (s)"),
        ("run_start1000_s", "dg launch to its first step, +1000 models (s)"),
        ("load1000_vs_parse", "defs() / dbt parse, +1000 models"),
        ("scale10000_dagster_s", "dg launch, +10000 models (s)"),
        ("scale10000_baseline_s", "baseline, +10000 models (s)"),
    ]
    for key, what in extras:
        if key in figures:
            print(f"  {key:<26} {fmt(figures[key]):>10}  {what}")
    print()
    print(
        f"machine: {machine.get('cores')} cores, {machine.get('memory_gib')} GiB,"
        f" {machine.get('cpu', '?')}; python {machine.get('python')},"
        f" dagster {machine.get('dagster')}, dbt-core {machine.get('dbt')};"
        f" load average {machine.get('load_average_at_start')} at start,"
        f" {machine.get('load_average_at_end')} at end"
    )


# ---------------------------------------------------------------------------------------


def _all_but_scale(args, runner: Runner, workdir: Path, data: Path, runs: int,
                   figures: dict) -> Path:
    """Every figure but the scaled ones; returns the product they were measured on."""
    green, product = copy_to_green(runner, workdir, runs)
    figures.update(green)
    log(
        "default product: dg launch against the baseline (one untimed pair first)"
        if not args.quick
        else "default product: dg launch against the baseline"
    )
    if not args.quick:
        materialize_pair(runner, product, data, "default-warmup", 1, 900)
    default = materialize_pair(runner, product, data, "default", runs, 900)
    figures.update(
        {
            "default_ratio": default["ratio"],
            "default_extra_s": default["extra_s"],
            "default_ratio_is_lower_bound": default["dagster_timed_out"],
            "default_extra_s_is_lower_bound": default["dagster_timed_out"],
            "default_dagster_s": default["dagster_s"],
            "default_baseline_s": default["baseline_s"],
            "default_dagster_runs_s": default["dagster_runs_s"],
            "default_baseline_runs_s": default["baseline_runs_s"],
            "dagster_steps_s": default.get("dagster_steps_s"),
            "dagster_outside_steps_s": default.get("dagster_outside_steps_s"),
            "baseline_steps_s": default.get("baseline_steps_s"),
        }
    )

    log("dg check defs and dg dev")
    figures.update(check_defs(runner, product, runs))
    figures.update(dev_first_page(runner, product))
    log(
        f"  check defs {fmt(figures['check_defs_s'])}s, dg dev first page"
        f" {fmt(figures['dev_first_page_s'])}s, location loaded"
        f" {fmt(figures['dev_location_loaded_s'])}s"
    )

    log("contract registry over 200 generated products")
    figures.update(registry_build(runner))
    log(f"  registry200_s {fmt(figures['registry200_s'])}s")

    return product


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each, 1000 models only")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--workdir", type=Path, help="folder for the products (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards")
    parser.add_argument(
        "--scale-timeout",
        type=float,
        default=-2.0,
        help="seconds after which a scaled dg launch is stopped; a negative value -F stops it"
        " after F times the baseline's time, at least 300 s (default -2: at 10000 models a"
        " run would take hours). A stopped run's ratio is reported as a lower bound.",
    )
    parser.add_argument(
        "--only-scale",
        type=int,
        nargs="+",
        metavar="MODELS",
        help="measure only the scaled products with these numbers of added models, one run"
        " each (e.g. --only-scale 10000 --scale-timeout 5400 lets the 10,000-model run end)",
    )
    parser.add_argument(
        "--include-metadata",
        nargs="+",
        choices=["row_count", "column_metadata", "none"],
        help="what the rendered product's dbt steps attach to each materialization (default:"
        " the product's own, both); `none` attaches neither, to measure their share",
    )
    args = parser.parse_args(argv)
    if args.include_metadata and not args.only_scale:
        parser.error("--include-metadata goes with --only-scale")
    if args.include_metadata and "none" in args.include_metadata and len(args.include_metadata) > 1:
        parser.error("--include-metadata none goes alone")

    runs = 1 if args.quick or args.only_scale else 3
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="product-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    runner = Runner(workdir)
    mode = "only-scale" if args.only_scale else "quick" if args.quick else "full"
    log(f"{mode} mode; products and logs in {workdir}")

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    figures: dict = {}
    machine: dict = {}
    try:
        if args.only_scale:
            product = workdir / "product"
            render(runner, product, "render")
            if args.include_metadata:
                set_include_metadata(product, args.include_metadata)
            runner.run("sync", ["uv", "sync"], cwd=product)
            machine = machine_info(runner, product)
        else:
            product = _all_but_scale(args, runner, workdir, data, runs, figures)
            machine = machine_info(runner, product)

        counts = args.only_scale or ([1000] if args.quick else [1000, 10000])

        for count in counts:
            big = count >= 10000
            result = scale(
                runner,
                product,
                data,
                count,
                runs=1 if big else runs,
                timeout=args.scale_timeout,
                load_runs=1 if (big or args.quick) else runs,
            )
            prefix = f"scale{count}"
            figures[f"{prefix}_ratio"] = result["materialize_ratio"]
            figures[f"{prefix}_extra_s"] = result["materialize_extra_s"]
            figures[f"{prefix}_dagster_s"] = result["materialize_dagster_s"]
            figures[f"{prefix}_baseline_s"] = result["materialize_baseline_s"]
            figures[f"{prefix}_ratio_is_lower_bound"] = result["materialize_dagster_timed_out"]
            figures[f"run_start{count}_s"] = result.get("materialize_run_start_s")
            figures[f"{prefix}_dagster_steps_s"] = result.get("materialize_dagster_steps_s")
            figures[f"{prefix}_baseline_steps_s"] = result.get("materialize_baseline_steps_s")
            figures[f"load{count}_vs_parse"] = result["load_vs_parse"]
            for key in ("parse_first_s", "parse_s", "load_s", "load_net_s", "import_floor_s"):
                figures[f"{prefix}_{key}"] = result[key]
            if count == 1000:
                figures["import_floor_s"] = result["import_floor_s"]
        if args.quick and not args.only_scale:
            figures["scale10000_ratio"] = None
            figures["load10000_vs_parse"] = None
    except KeyboardInterrupt:
        log("interrupted: stopping what is still running")
        runner.failures.append("interrupted")
    finally:
        kill_leftovers()

    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for key in TARGETS:
        figures.setdefault(key, None)
    elapsed = time.perf_counter() - _T0
    report = {
        **{key: rounded(figures.get(key)) for key in TARGETS},
        "mode": mode,
        "runs": runs,
        "include_metadata": args.include_metadata or "the product's own",
        "targets": TARGETS,
        "met": {
            key: None
            if figures[key] is None
            else (figures[key] <= target and not figures.get(f"{key}_is_lower_bound"))
            for key, target in TARGETS.items()
        },
        **{key: rounded(value) for key, value in figures.items() if key not in TARGETS},
        "machine": machine,
        "benchmark_wall_s": round(elapsed, 1),
        "failures": runner.failures,
        "workdir": str(workdir) if args.keep else None,
    }
    # `machine` carries cores, memory, python, dagster and dbt at the top level as well.
    for key in ("cores", "memory_gib", "python", "dagster", "dbt"):
        report[key] = machine.get(key)
    print_table(figures, machine)
    print(
        f"\nbenchmark took {elapsed:.0f}s; logs in {runner.logs}"
        + ("" if args.keep else " (removed)")
    )
    for failure in runner.failures:
        print(f"FAILED: {failure}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

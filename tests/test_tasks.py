"""tasks.py's own logic, without installing anything: which uv it runs, and the commands it
prints for the next steps, which must run that same uv in a shell where uv is not on PATH."""

import importlib.util
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> types.ModuleType:
    """tasks.py as a module, on a machine without uv on PATH and no private uv yet."""
    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.shutil, "which", lambda name, *args, **kwargs: None)
    monkeypatch.setattr(module, "BOOTSTRAP", tmp_path / ".bootstrap")
    # No `uv` module either, unless a test provides one.
    monkeypatch.setitem(sys.modules, "uv", None)
    return module


def fake_uv(path: Path) -> Path:
    """An executable that reports its path and arguments, where a real uv would be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\necho "uv at $0: $*"\n')
    path.chmod(0o755)
    return path


def run_printed(line: str, tmp_path: Path, **env: str) -> str:
    """Run a printed command in a shell whose PATH has no uv (nor anything else)."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    completed = subprocess.run(
        ["/bin/sh", "-c", line], env={"PATH": str(empty), **env},
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def printed_line(steps: str, marker: str) -> str:
    (line,) = [line.strip() for line in steps.splitlines() if marker in line]
    return line


def test_private_uv_is_named_by_its_path(tasks, tmp_path: Path) -> None:
    private = fake_uv(tasks.BOOTSTRAP / "bin" / "uv")
    used = tasks.uv()
    assert used == [str(private)]
    dest = tmp_path / "demo product"
    dest.mkdir()
    steps = tasks.next_steps(dest, used)
    dev = printed_line(steps, "dg dev")
    assert dev.startswith(f"cd {shlex.quote(str(dest))} && {private} run dg dev")
    # In a shell without uv on PATH, the printed command runs the uv tasks.py used.
    assert run_printed(dev, tmp_path) == f"uv at {private}: run dg dev"
    copier = printed_line(steps, "copier copy")
    assert run_printed(copier, tmp_path) == f"uv at {private}: tool run copier copy {ROOT} my-product"
    assert "uvx" not in steps


def test_uv_installed_into_the_running_python_is_run_as_a_module(
    tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `pip install uv`, uv may be importable but its script not on PATH."""
    module = tmp_path / "site" / "uv"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "__main__.py").write_text(
        "import sys; print('uv module of', sys.executable + ':', *sys.argv[1:])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "uv")
    used = tasks.uv()
    assert used == [sys.executable, "-m", "uv"]
    steps = tasks.next_steps(tmp_path, used)
    dev = printed_line(steps, "dg dev")
    output = run_printed(dev, tmp_path, PYTHONPATH=str(tmp_path / "site"))
    assert output == f"uv module of {sys.executable}: run dg dev"


def test_uv_on_path_is_named_plainly(tasks, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    on_path = fake_uv(tmp_path / "bin" / "uv")
    monkeypatch.setattr(tasks.shutil, "which", lambda name, *a, **k: str(on_path) if name == "uv" else None)
    used = tasks.uv()
    assert used == [str(on_path)]
    steps = tasks.next_steps(tasks.DEFAULT_DEST, used)
    assert printed_line(steps, "tasks.py ui") == "python3 tasks.py ui"
    assert printed_line(steps, "dg dev").endswith("&& uv run dg dev")
    assert printed_line(steps, "copier copy").startswith("uvx copier copy ")


def test_ui_names_the_destination_unless_it_is_the_default(tasks, tmp_path: Path) -> None:
    steps = tasks.next_steps(tmp_path / "x", [str(tmp_path / "uv")])
    assert printed_line(steps, "tasks.py ui") == f"python3 tasks.py ui {tmp_path / 'x'}"


def test_ui_without_a_product_says_how_to_get_one(tasks, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        tasks.main(["ui", str(tmp_path)])
    assert "python3 tasks.py demo" in str(stopped.value)


def test_a_step_prints_one_line_and_logs_the_rest(tasks, tmp_path: Path, capsys) -> None:
    log = tmp_path / "demo.log"
    noisy = [sys.executable, "-c", "import sys\nfor i in range(500): print('line', i, file=sys.stderr)"]
    assert tasks.step("materialize", noisy, tmp_path, log) == ""
    printed = capsys.readouterr()
    assert printed.err == ""
    (line,) = printed.out.splitlines()
    assert line.split()[0] == "materialize" and line.endswith(" s")
    assert "line 499" in log.read_text()


def test_a_failed_step_shows_the_end_of_the_log_and_its_exit_code(
    tasks, tmp_path: Path, capsys
) -> None:
    log = tmp_path / "demo.log"
    failing = [sys.executable, "-c", "for i in range(100): print('line', i)\nraise SystemExit(3)"]
    with pytest.raises(SystemExit) as stopped:
        tasks.step("install", failing, tmp_path, log)
    assert stopped.value.code == 3
    printed = capsys.readouterr()
    assert "install" in printed.out and "failed" in printed.out
    shown = printed.err.splitlines()
    assert "line 99" in shown and "line 60" in shown and "line 59" not in shown
    assert str(log) in printed.err


def test_the_summary_step_returns_what_it_printed(tasks, tmp_path: Path, capsys) -> None:
    log = tmp_path / "demo.log"
    command = [sys.executable, "-c", "import sys; print('rows'); print('noise', file=sys.stderr)"]
    assert tasks.step("summary", command, tmp_path, log, capture=True) == "rows\n"
    assert "noise" in log.read_text() and "rows" in log.read_text()


def collected_modules(marker: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-m", marker],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return {line.split("::")[0] for line in completed.stdout.splitlines() if "::" in line}


def test_a_push_still_runs_the_default_product_end_to_end_and_nightly_the_other_engines() -> None:
    """`-m "not nightly"`, the quicker check README offers for a push, keeps the default
    product's run, the coupling, the UI and every render; `nightly` holds the other
    engines' and Pythons' products."""
    push = collected_modules("not nightly")
    assert {"tests/test_product.py", "tests/test_coupling.py", "tests/test_ui.py",
            "tests/test_render.py", "tests/test_answers.py"} <= push
    assert not {"tests/test_spark.py", "tests/test_python_versions.py"} & push
    nightly = collected_modules("nightly")
    assert {"tests/test_spark.py", "tests/test_python_versions.py",
            "tests/test_warehouse_parse.py"} <= nightly
    assert 'python3 tasks.py test -m "not nightly"' in (ROOT / "README.md").read_text()

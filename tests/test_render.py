"""Rendering: every question and choice renders a clean product."""

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import copier
import jsonschema
import open_data_contract_standard
import pytest
import yaml

COPIER_YML = Path(__file__).resolve().parents[1] / "copier.yml"
ROOT = Path(__file__).resolve().parents[1]
#: The package products depend on, in this repository.
PACKAGE = "packages/dagster-data-product"
QUESTIONS = {
    name: spec for name, spec in yaml.safe_load(COPIER_YML.read_text()).items()
    if not name.startswith("_")
}

def rendered_files(project: Path) -> list[Path]:
    return [path for path in project.rglob("*") if path.is_file() and ".git" not in path.parts]


ODCS_SCHEMA = json.loads(
    resources.files(open_data_contract_standard).joinpath("schema.json").read_text()
)


def contract_check(project: Path) -> subprocess.CompletedProcess:
    """`contract check` in the product's folder, by the package this suite installs."""
    return subprocess.run(
        [sys.executable, "-m", "dagster_data_product.cli", "check"],
        check=False, cwd=project, capture_output=True, text=True, timeout=120,
    )


def assert_clean(project: Path) -> None:
    """No template suffix, no unrendered Copier expression, dbt's own Jinja intact."""
    files = rendered_files(project)
    assert not [p for p in files if p.name.endswith(".jinja")], "a .jinja file was copied"
    for path in files:
        text = path.read_text()
        for question in QUESTIONS:
            assert not re.search(r"\{\{\s*" + question + r"\b", text), (
                f"{path.relative_to(project)} still holds the Copier variable {question}"
            )
        assert "_copier_conf" not in text, f"{path.relative_to(project)} holds _copier_conf"
    for path in files:
        if path.suffix == ".sql" and "models" in path.parts:
            text = path.read_text()
            assert "{{ ref(" in text or "{{ source(" in text, f"{path} lost its dbt Jinja"
    # Whatever the answers, the contract is valid ODCS v3.
    contract = yaml.safe_load((project / "datacontract.yaml").read_text())
    jsonschema.validate(contract, ODCS_SCHEMA)


def test_defaults_render(copie) -> None:
    result = copie.copy()
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    assert_clean(project)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["product_slug"] == "sales_orders"
    assert answers["domain"] == "sales"
    assert "_commit" in answers and "_src_path" in answers
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["tool"]["dg"]["project"]["root_module"] == "sales_orders"
    assert (project / "src/sales_orders/definitions.py").exists()
    assert (project / "dbt/models/marts/fct_orders.sql").exists()
    contract = yaml.safe_load((project / "datacontract.yaml").read_text())
    assert contract["apiVersion"].startswith("v3.") and contract["kind"] == "DataContract"
    assert contract["domain"] == "sales" and contract["id"] == "sales.sales_orders"
    assert [port["name"] for port in contract["schema"]] == ["orders", "customers"]
    assert (project / "catalog.yaml").exists()
    profiles = (project / "dbt/profiles.yml").read_text()
    assert "{{ env_var('DUCKDB_PATH', flags.PROFILES_DIR ~ '/../data/warehouse.duckdb') }}" in profiles
    assert not (project / "uv.lock").exists()


def test_packages_are_compiled_to_bytecode_at_install(copie) -> None:
    """`uv sync` compiles the environment once, so that the first `dg dev`, `dg launch` or
    `pytest` does not compile thousands of modules before doing anything."""
    result = copie.copy()
    assert result.exit_code == 0, result.exception
    pyproject = tomllib.loads((result.project_dir / "pyproject.toml").read_text())
    assert pyproject["tool"]["uv"]["compile-bytecode"] is True


#: The questions a new team asks first, each answered in the product's README.
HOW_DO_I = [
    "### ... add a source?",
    "### ... add a model?",
    "### ... publish a new output port?",
    "### ... read another product?",
    "### ... change the contract's version?",
    "### ... run dbt by hand?",
    "### ... find out more?",
]
GUIDES = ["quickstart.md", "questions.md", "anatomy.md", "contract.md", "coupling.md",
          "governance.md", "warehouses.md", "kubernetes.md", "updating.md", "performance.md",
          "registry.md", "lineage.md"]


@pytest.mark.parametrize("with_example_pipeline", [True, False], ids=["default", "skeleton"])
def test_readme_answers_how_do_i(copie, with_example_pipeline: bool) -> None:
    result = copie.copy(extra_answers={"with_example_pipeline": with_example_pipeline})
    assert result.exit_code == 0, result.exception
    readme = (result.project_dir / "README.md").read_text()
    assert "## How do I ..." in readme
    for heading in HOW_DO_I:
        assert f"\n{heading}\n" in readme, heading
    # The steps name the commands that do the work.
    for command in ["uv run contract check", "uv run contract catalog", "uv run contract dbt",
                    "UPDATE_SNAPSHOTS=1",
                    "uv run contract upstreams", "uv run contract diff"]:
        assert command in readme, command
    # dbt by hand: ingestion first, then from dbt/ or from the root.
    assert "uv run dg launch --assets 'group:ingestion'" in readme
    assert "uv run dbt build --project-dir dbt --profiles-dir dbt" in readme
    assert "#running-dbt-by-hand" in readme and "### Running dbt by hand" in readme
    # Every guide of the template is named, since its address is unknown at render time.
    for guide in GUIDES:
        assert f"`{guide}`" in readme, guide
        assert (ROOT / "docs" / guide).exists(), guide
    assert sorted(path.name for path in (ROOT / "docs").glob("*.md")) == sorted(GUIDES)


def test_slug_is_derived_from_the_name(copie) -> None:
    result = copie.copy(extra_answers={"product_name": "Web Events 2.0 (EU)"})
    assert result.exit_code == 0, result.exception
    assert result.answers["product_slug"] == "web_events_2_0_eu"
    assert (result.project_dir / "src/web_events_2_0_eu/definitions.py").exists()


def test_answers_reach_the_product(copie) -> None:
    answers = {
        "product_name": 'Marketing "Web" Events',
        "product_slug": "web_events",
        "domain": "marketing",
        "description": 'Clicks and sessions, with "quotes" and a \\ backslash.',
        "owner_team": "growth-analytics",
        "owner_email": "growth@corp.example.org",
    }
    result = copie.copy(extra_answers=answers)
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    assert_clean(project)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "web_events"
    assert pyproject["project"]["description"] == answers["description"]
    declared = yaml.safe_load((project / "src/web_events/defs/product/defs.yaml").read_text())
    assert declared["type"] == "dagster_data_product.DataProduct"
    assert declared["attributes"]["pool"] == "web_events_duckdb"
    dbt_project = yaml.safe_load((project / "dbt/dbt_project.yml").read_text())
    assert dbt_project["name"] == dbt_project["profile"] == "web_events"
    assert "web_events" in yaml.safe_load((project / "dbt/profiles.yml").read_text())
    snapshot = (project / "tests/definitions_snapshot.txt").read_text()
    assert "asset marketing/fct_orders" in snapshot and "sales/" not in snapshot
    readme = (project / "README.md").read_text()
    assert answers["product_name"] in readme and "growth@corp.example.org" in readme
    contract = yaml.safe_load((project / "datacontract.yaml").read_text())
    assert contract["name"] == answers["product_name"]
    assert contract["description"]["purpose"] == answers["description"]
    assert contract["team"]["name"] == "growth-analytics"
    assert contract["team"]["members"][0]["username"] == "growth@corp.example.org"
    assert contract["id"] == "marketing.web_events"


@pytest.mark.parametrize("freshness_sla_hours", [1, 24, 168])
def test_freshness_sla_reaches_the_contract(copie, freshness_sla_hours: int) -> None:
    result = copie.copy(extra_answers={"freshness_sla_hours": freshness_sla_hours})
    assert result.exit_code == 0, result.exception
    contract = yaml.safe_load((result.project_dir / "datacontract.yaml").read_text())
    (sla,) = [p for p in contract["slaProperties"] if p["property"] == "freshness"]
    assert (sla["value"], sla["unit"]) == (freshness_sla_hours, "h")


@pytest.mark.parametrize("python_version", QUESTIONS["python_version"]["choices"])
def test_each_python_version_renders(copie, python_version: str) -> None:
    result = copie.copy(extra_answers={"python_version": python_version})
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    assert_clean(project)
    assert (project / ".python-version").read_text().strip() == python_version
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={python_version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + python_version.replace(".", "")


def test_product_tests_fail_on_warnings_but_named_ones_from_dependencies(copie) -> None:
    """The product's pytest turns warnings into errors. Each exception names the warning's
    class and the module that raises it, with a comment saying why; none is an ignore of a
    whole class, and none names the product or its package."""
    result = copie.copy()
    assert result.exit_code == 0, result.exception
    text = (result.project_dir / "pyproject.toml").read_text()
    filters = tomllib.loads(text)["tool"]["pytest"]["ini_options"]["filterwarnings"]
    assert filters[0] == "error"
    assert len(filters) > 1
    lines = text.splitlines()
    for entry in filters[1:]:
        action, message, category, module = entry.split(":")
        assert (action, message) == ("ignore", ""), entry
        assert category and module, f"{entry} must name the warning's class and module"
        assert not module.startswith(("sales_orders", "dagster_data_product")), entry
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f'"{entry}",']
        assert lines[index - 1].strip().startswith("#"), f"{entry} has no comment saying why"


@pytest.mark.parametrize("with_example_pipeline", [True, False])
def test_example_pipeline_switch(copie, with_example_pipeline: bool) -> None:
    result = copie.copy(extra_answers={"with_example_pipeline": with_example_pipeline})
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    assert_clean(project)
    example_files = [
        "src/sales_orders/defs/ingest/assets.py",
        "src/sales_orders/defs/forecast/assets.py",
        "dbt/models/staging/stg_orders.sql",
        "dbt/models/marts/fct_orders.yml",
        "tests/test_pipeline.py",
    ]
    for name in example_files:
        assert (project / name).exists() == with_example_pipeline, name
    # The skeleton keeps what every product needs.
    for name in ["src/sales_orders/defs/dbt/defs.yaml", "src/sales_orders/defs/product/defs.yaml",
                 "dbt/dbt_project.yml", "tests/test_definitions.py"]:
        assert (project / name).exists(), name
    readme = (project / "README.md").read_text()
    assert ("Adding the first asset and model" in readme) != with_example_pipeline
    snapshot = (project / "tests/definitions_snapshot.txt").read_text()
    assert bool(snapshot.strip()) == with_example_pipeline
    contract = yaml.safe_load((project / "datacontract.yaml").read_text())
    assert bool(contract["schema"]) == with_example_pipeline
    catalog = yaml.safe_load((project / "catalog.yaml").read_text())
    assert bool(catalog["entries"]) == with_example_pipeline


WAREHOUSES = list(QUESTIONS["warehouse"]["choices"].values())
#: The dbt adapter each `warehouse` adds to the product's dependencies; dbt-duckdb is
#: there for every product, for the dev target.
ADAPTERS = {
    "duckdb": "dbt-duckdb",
    "spark": "dbt-spark[session]",
    "trino": "dbt-trino",
    "snowflake": "dbt-snowflake",
    "bigquery": "dbt-bigquery",
}


def test_warehouse_choices_are_the_documented_ones() -> None:
    assert WAREHOUSES == ["duckdb", "spark", "trino", "snowflake", "bigquery"]
    assert QUESTIONS["warehouse"]["default"] == "duckdb"


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_each_warehouse_renders(copie, warehouse: str) -> None:
    result = copie.copy(extra_answers={"warehouse": warehouse})
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    assert_clean(project)
    assert result.answers["warehouse"] == warehouse
    declared = yaml.safe_load((project / "src/sales_orders/defs/product/defs.yaml").read_text())
    assert declared["attributes"]["warehouse"] == warehouse
    # dev is the local DuckDB file whatever the answer; prod is the chosen engine,
    # selected with DBT_TARGET.
    profile = yaml.safe_load((project / "dbt/profiles.yml").read_text())["sales_orders"]
    assert profile["target"] == "{{ env_var('DBT_TARGET', 'dev') }}"
    assert profile["outputs"]["dev"]["type"] == "duckdb"
    assert profile["outputs"]["prod"]["type"] == warehouse
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    # The engine's adapter and client come with the package's extra of the engine's name;
    # a DuckDB product names no other engine.
    (package,) = [d for d in dependencies if d.startswith("dagster-data-product")]
    extra = "" if warehouse == "duckdb" else f"[{warehouse}]"
    assert package == f"dagster-data-product{extra}"
    extras = tomllib.loads((ROOT / PACKAGE / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    if warehouse != "duckdb":
        (pin,) = [d for d in extras[warehouse] if d.startswith(ADAPTERS[warehouse] + ">")]
        # The adapter follows dbt-core's minor, as dbt-duckdb does.
        assert pin.endswith(">=1.11,<1.12")
    if warehouse == "duckdb":
        rendered = "\n".join(p.read_text() for p in (project / "src").rglob("*") if p.is_file())
        rendered += (project / "pyproject.toml").read_text()
        for other in set(WAREHOUSES) - {"duckdb"}:
            assert other not in rendered.lower(), other
    assert (project / "deploy/README.md").exists()
    # Consumers are pointed only at audited data: the published files, or on a warehouse
    # the `published` schema the publishing step writes after the contract checks pass,
    # never the marts dbt rebuilds before they are checked.
    servers = yaml.safe_load((project / "datacontract.yaml").read_text())["servers"]
    for server in servers:
        # The most specific location the server names: the files, a schema, a dataset, or
        # a database where the engine has no schemas (Spark).
        where = next(
            server[k] for k in ("path", "schema", "dataset", "database") if server.get(k)
        )
        assert str(where).lower() in ("published", "data/published/{model}.parquet"), server
    # The package's own check agrees: the dbt files generated for this engine, the catalog,
    # the descriptor, and the production server naming where the ports are published.
    checked = contract_check(project)
    assert checked.returncode == 0, checked.stderr


def test_every_question_is_exercised() -> None:
    """Each question of copier.yml is named by a test of the suite."""
    source = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    missing = [name for name in QUESTIONS if f'"{name}"' not in source]
    assert missing == []


def package_source(project: Path) -> Path:
    """Where the rendered product installs dagster-data-product from, resolved from its folder."""
    source = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["sources"]
    return (project / source["dagster-data-product"]["path"]).resolve()


@pytest.mark.parametrize("destination", ["absolute", "relative"])
def test_a_relative_template_path_installs_the_package_from_that_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: str
) -> None:
    """`copier copy ../template product` and `copier copy . /elsewhere/product` both give a
    product whose package source is this checkout's package, wherever the product lies."""
    monkeypatch.chdir(tmp_path)
    template = os.path.relpath(ROOT, tmp_path)
    dest = tmp_path / "product" if destination == "absolute" else Path("product")
    copier.run_copy(template, dest, defaults=True, vcs_ref="HEAD", quiet=True, unsafe=False)
    assert package_source(tmp_path / "product") == ROOT / PACKAGE
    if destination == "absolute":
        # A relative path would point elsewhere once read from the product's folder.
        written = tomllib.loads((tmp_path / "product" / "pyproject.toml").read_text())
        assert Path(written["tool"]["uv"]["sources"]["dagster-data-product"]["path"]).is_absolute()

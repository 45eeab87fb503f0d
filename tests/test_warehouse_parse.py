"""The `warehouse` answer: each engine's prod target keeps its credentials in environment
variables, every variable it needs is documented in the product's deploy guide and
provided by its Helm values, and dbt parses it with that engine's adapter.

The render-only checks run with the rest of the suite. The parse installs one product per
engine, once per session (`product` marker); uv's cache makes every install after the
first cheap.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import git_init, run, uv, uv_executable
from test_render import WAREHOUSES

#: `env_var('NAME')` or `env_var('NAME', default)` in a dbt profile, where the default is a
#: literal or an expression such as `flags.PROFILES_DIR ~ '/../data/x'`.
ENV_VAR = re.compile(r"env_var\('([A-Z][A-Z0-9_]*)'(\s*,\s*[^)]+)?\)")
#: Profile fields that hold a credential: only ever `{{ env_var('NAME') }}`.
CREDENTIAL_FIELDS = {
    "password",
    "token",
    "keyfile",
    "keyfile_json",
    "private_key",
    "private_key_passphrase",
    "client_secret",
}
#: Variables the deployment itself sets on every pod, read by the product's Python side
#: (or by Python itself) rather than by the profile.
DEPLOYMENT_VARIABLES = {"DBT_TARGET", "PUBLISH_DIR", "PYTHONDONTWRITEBYTECODE"}
#: Well-formed stand-ins for every engine's settings: `dbt parse` checks the profile
#: without connecting.
PLACEHOLDER_SETTINGS = {
    "TRINO_HOST": "trino.example.com",
    "TRINO_USER": "dbt",
    "TRINO_PASSWORD": "placeholder",  # pragma: allowlist secret
    "TRINO_CATALOG": "lake",
    "SNOWFLAKE_ACCOUNT": "example-account",
    "SNOWFLAKE_USER": "dbt",
    "SNOWFLAKE_PASSWORD": "placeholder",  # pragma: allowlist secret
    "SNOWFLAKE_ROLE": "transformer",
    "SNOWFLAKE_DATABASE": "analytics",
    "SNOWFLAKE_WAREHOUSE": "transforming",
    "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/keyfile.json",
    "BIGQUERY_PROJECT": "example-project",
}


def profile(project: Path) -> dict:
    """The product's dbt profile, as dbt reads it before rendering its own Jinja."""
    return yaml.safe_load((project / "dbt/profiles.yml").read_text())["sales_orders"]


def strings(node) -> list[str]:
    """Every string value under a YAML node."""
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return [node] if isinstance(node, str) else []


def prod_variables(project: Path) -> dict[str, bool]:
    """Each variable the prod target reads, and whether it has a default."""
    found: dict[str, bool] = {}
    for text in strings(profile(project)["outputs"]["prod"]):
        for name, default in ENV_VAR.findall(text):
            found[name] = found.get(name, False) or bool(default)
    return found


def required_variables(project: Path) -> set[str]:
    """The prod target's variables without a default: a deployment must set them."""
    return {name for name, has_default in prod_variables(project).items() if not has_default}


def created_secrets(guide: str) -> dict[str, set[str]]:
    """The Secrets the guide's `kubectl create secret generic` commands create, with the
    variables each one holds (`--from-literal=NAME=...`)."""
    secrets: dict[str, set[str]] = {}
    command = re.compile(r"kubectl create secret generic (\S+)((?:[ \t]*\\\n[ \t]*--from-\S+)*)")
    for name, options in command.findall(guide):
        secrets[name] = set(re.findall(r"--from-literal=([A-Z][A-Z0-9_]*)=", options))
    return secrets


def helm_deployment(project: Path) -> dict:
    """The product's entry under the chart's user code deployments."""
    values = yaml.safe_load((project / "deploy/helm/values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def provided_variables(project: Path) -> set[str]:
    """Variables every pod gets: the Helm values' `env`, and the Secrets of `envSecrets`
    as the guide creates them."""
    deployment = helm_deployment(project)
    provided = {item["name"] for item in deployment["env"]}
    secrets = created_secrets((project / "deploy/README.md").read_text())
    for secret in deployment.get("envSecrets", []):
        assert secret["name"] in secrets, f"the guide never creates Secret {secret['name']}"
        provided |= secrets[secret["name"]]
    return provided


def render(copie, warehouse: str) -> Path:
    result = copie.copy(extra_answers={"warehouse": warehouse})
    assert result.exit_code == 0, result.exception
    return result.project_dir


# --- Render only ------------------------------------------------------------------------


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_prod_target_keeps_credentials_in_the_environment(copie, warehouse: str) -> None:
    project = render(copie, warehouse)
    prod = profile(project)["outputs"]["prod"]
    for field in CREDENTIAL_FIELDS & set(prod):
        # The whole value is one variable, with no default a secret could hide in.
        assert re.fullmatch(r"\{\{ env_var\('[A-Z][A-Z0-9_]*'\) \}\}", prod[field]), field
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert not CREDENTIAL_FIELDS & set(answers)
    # The file's own comments name every variable the prod target reads.
    comments = "\n".join(
        line
        for line in (project / "dbt/profiles.yml").read_text().splitlines()
        if line.lstrip().startswith("#")
    )
    for name in prod_variables(project):
        assert re.search(rf"\b{name}\b", comments), f"{name} is not explained in profiles.yml"


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_required_variables_are_documented_and_provided(copie, warehouse: str) -> None:
    project = render(copie, warehouse)
    required = required_variables(project)
    # Spark in session mode needs nothing chosen per deployment; every other engine
    # does, DuckDB included: its file has no default location in production.
    assert bool(required) == (warehouse != "spark"), required
    guide = (project / "deploy/README.md").read_text()
    provided = provided_variables(project)
    for name in required:
        assert f"`{name}`" in guide, f"{name} is not documented in deploy/README.md"
        assert name in provided, f"{name} is set by neither the Helm values nor a Secret"
    # A Secret holds only what the profile reads, and the Helm values set no credential.
    for variables in created_secrets(guide).values():
        assert variables <= set(prod_variables(project))
    env = {item["name"]: item.get("value", "") for item in helm_deployment(project)["env"]}
    secret_names = {name for variables in created_secrets(guide).values() for name in variables}
    assert not secret_names & set(env)


# --- Installed products: dbt parses the prod target with the engine's adapter -----------


@pytest.fixture(scope="session", params=WAREHOUSES)
def warehouse_product(request, copie_session) -> tuple[str, Path]:
    """A product of each `warehouse` choice, installed and committed."""
    result = copie_session.copy(extra_answers={"warehouse": request.param})
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    uv("sync", cwd=project)
    git_init(project)
    return request.param, project


@pytest.mark.product
@pytest.mark.nightly
def test_prod_target_parses_with_the_engines_adapter(warehouse_product, tmp_path: Path) -> None:
    warehouse, project = warehouse_product
    dbt_dir = project / "dbt"
    settings = {
        **PLACEHOLDER_SETTINGS,
        "DUCKDB_PATH": str(tmp_path / "prod.duckdb"),
        "DBT_TARGET": "prod",
    }
    # DBT_TARGET alone selects prod, as in a deployment.
    run([uv_executable(), "run", "dbt", "parse"], cwd=dbt_dir, env=settings)
    manifest = json.loads((dbt_dir / "target/manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == warehouse
    # A required variable left unset stops dbt with its name, rather than falling back
    # to a value nobody chose.
    for missing in sorted(required_variables(project))[:1]:
        completed = run(
            [uv_executable(), "run", "dbt", "parse", "--target", "prod"],
            cwd=dbt_dir,
            env={name: value for name, value in settings.items() if name != missing},
            check=False,
        )
        assert completed.returncode != 0
        assert f"Env var required but not provided: '{missing}'" in completed.stdout


@pytest.mark.product
@pytest.mark.nightly
def test_engine_files_pass_the_products_gates(warehouse_product) -> None:
    """The files that differ per engine pass the product's pre-commit hooks unchanged."""
    _, project = warehouse_product
    files = ["dbt/profiles.yml", "deploy/README.md", "deploy/helm/values.yaml", "Dockerfile",
             "pyproject.toml", "README.md", "dbt/models/marts/fct_orders.yml",
             "dbt/models/marts/dim_customers.yml"]
    completed = run(
        [uv_executable(), "run", "pre-commit", "run", "--color=never", "--files", *files],
        cwd=project,
        check=False,
    )
    changed = run(["git", "status", "--porcelain", "--", *files], cwd=project).stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert changed == "", f"pre-commit changed files of a fresh render:\n{changed}"


@pytest.mark.product
@pytest.mark.nightly
def test_the_dbt_files_of_each_engine_are_what_the_contract_generates(warehouse_product) -> None:
    """The ports' dbt YAML spells the contract's types the engine's way (string on Spark and
    BigQuery), exactly as `contract dbt` writes it for that engine."""
    warehouse, project = warehouse_product
    checked = run([uv_executable(), "run", "contract", "check"], cwd=project, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    model = yaml.safe_load((project / "dbt/models/marts/fct_orders.yml").read_text())
    types = {c["name"]: c["data_type"] for c in model["models"][0]["columns"]}
    assert types["status"] == ("string" if warehouse in ("spark", "bigquery") else "varchar")
    written = run([uv_executable(), "run", "contract", "dbt"], cwd=project)
    assert "agree with datacontract.yaml" in written.stdout
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""


@pytest.mark.product
@pytest.mark.nightly
@pytest.mark.parametrize("warehouse_product", ["trino", "snowflake", "bigquery"], indirect=True)
def test_an_engines_product_passes_its_own_tests(warehouse_product) -> None:
    """Development runs on DuckDB whatever the `warehouse` answer, so a Trino, Snowflake or
    BigQuery product's own tests run here as a team runs them, and leave its folder clean.
    (The DuckDB and Spark products' own tests run in test_product.py and test_spark.py.)"""
    warehouse, project = warehouse_product
    completed = run([uv_executable(), "run", "pytest", "-q", "-p", "no:cacheprovider"],
                    cwd=project, check=False)
    assert completed.returncode == 0, (
        f"{warehouse} product's tests:\n{completed.stdout[-6000:]}\n{completed.stderr[-3000:]}"
    )
    summary = completed.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert run(["git", "status", "--porcelain"], cwd=project).stdout == ""

"""Governance: CI files for the chosen `ci_provider`, quality gates a fresh render passes
without changing a file, and deployment artifacts whose every command exists in the product.

Render-only tests are cheap. The `product` tests install one product per variant, once per
session, and run its pre-commit hooks, its dbt parse and its code server.
"""

import fnmatch
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import copier
import dockerfile
import pytest
import yaml
from conftest import git_init, product_env, run, uv
from test_render import QUESTIONS, WAREHOUSES, assert_clean
from test_warehouse_parse import (
    DEPLOYMENT_VARIABLES,
    created_secrets,
    helm_deployment,
    prod_variables,
    provided_variables,
    required_variables,
)

CI_FILES = {
    "github": {".github/workflows/ci.yml", ".github/CODEOWNERS"},
    "gitlab": {".gitlab-ci.yml", ".gitlab/CODEOWNERS"},
    "none": set(),
}
ALL_CI_FILES = set().union(*CI_FILES.values())
TEMPLATE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


def render(copie, **answers) -> Path:
    result = copie.copy(extra_answers=answers)
    assert result.exit_code == 0, result.exception
    return result.project_dir


def check_jsonschema(schema: str, path: Path) -> None:
    """Validate `path` against a schema that check-jsonschema ships (no network needed)."""
    completed = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


# --- ci_provider: the right files, and only those ---------------------------------------


def test_ci_provider_choices_are_the_documented_ones() -> None:
    assert QUESTIONS["ci_provider"]["choices"] == ["github", "gitlab", "none"]
    assert QUESTIONS["ci_provider"]["default"] == "github"


@pytest.mark.parametrize("ci_provider", QUESTIONS["ci_provider"]["choices"])
def test_each_ci_provider_renders_its_files_only(copie, ci_provider: str) -> None:
    project = render(copie, ci_provider=ci_provider, owner_team="growth-analytics")
    assert_clean(project)
    present = {name for name in ALL_CI_FILES if (project / name).exists()}
    assert present == CI_FILES[ci_provider]
    # No empty folder is left behind by the other providers' conditional names.
    assert (project / ".github").exists() == (ci_provider == "github")
    assert (project / ".gitlab").exists() == (ci_provider == "gitlab")
    for name in CI_FILES[ci_provider]:
        if name.endswith("CODEOWNERS"):
            rules = [
                line.split()
                for line in (project / name).read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
            namespace = "your-org" if ci_provider == "github" else "your-group"
            assert rules == [["*", f"@{namespace}/growth-analytics"]]
    # The gates and the deployment artifacts do not depend on the CI service.
    for name in [
        ".pre-commit-config.yaml",
        ".sqlfluff",
        "Dockerfile",
        ".dockerignore",
        "deploy/helm/values.yaml",
        "deploy/README.md",
    ]:
        assert (project / name).exists(), name


def test_unknown_ci_provider_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ci_provider"):
        copier.run_copy(
            str(TEMPLATE),
            str(tmp_path / "product"),
            data={"ci_provider": "jenkins"},
            defaults=True,
            vcs_ref="HEAD",
            quiet=True,
        )


# --- GitHub Actions ------------------------------------------------------------------------


@pytest.mark.parametrize("with_example_pipeline", [True, False])
def test_github_workflow(copie, with_example_pipeline: bool) -> None:
    project = render(copie, ci_provider="github", with_example_pipeline=with_example_pipeline)
    path = project / ".github/workflows/ci.yml"
    check_jsonschema("vendor.github-workflows", path)
    text = path.read_text()
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read"}
    # Every action is pinned by commit, with the release in a comment.
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: {comment!r}"
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts), name
        assert any(s.get("uses", "").startswith("astral-sh/setup-uv@") for s in job["steps"]), name
    runs = {name: "\n".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    for name in ["pre-commit", "test", "dbt", "contract"]:
        setup = next(s for s in jobs[name]["steps"] if "setup-uv" in s.get("uses", ""))
        assert setup["with"]["enable-cache"] is True, name
        assert "uv sync" in runs[name], name
        assert jobs[name]["if"] == "github.event_name != 'schedule'"
    assert "uv run pre-commit run --all-files" in runs["pre-commit"]
    assert "uv run pytest" in runs["test"]
    dbt_command = (
        "uv run dg launch --assets 'not group:upstreams+'"
        if with_example_pipeline
        else "uv run dg check defs"
    )
    assert dbt_command in runs["dbt"]
    assert "uv run contract check" in runs["contract"]
    assert "git show origin/main:datacontract.yaml > .main-datacontract.yaml" in runs["contract"]
    assert "uv run contract diff .main-datacontract.yaml datacontract.yaml" in runs["contract"]
    # origin/main exists only with the full history, fetched by checkout itself.
    assert jobs["contract"]["steps"][0]["with"]["fetch-depth"] == 0
    update = jobs["template-update"]
    assert update["continue-on-error"] is True
    assert "schedule" in update["if"] and "copier check-update" in runs["template-update"]
    assert workflow[True]["schedule"]  # PyYAML reads the key `on` as True.
    # GitHub's own expressions survive rendering.
    assert "${{ github.workflow }}" in text


# --- GitLab CI -----------------------------------------------------------------------------


@pytest.mark.parametrize("with_example_pipeline", [True, False])
def test_gitlab_ci(copie, with_example_pipeline: bool) -> None:
    project = render(
        copie,
        ci_provider="gitlab",
        with_example_pipeline=with_example_pipeline,
        python_version="3.12",
    )
    path = project / ".gitlab-ci.yml"
    check_jsonschema("vendor.gitlab-ci", path)
    pipeline = yaml.safe_load(path.read_text())
    assert pipeline[".uv"]["image"] == "python:3.12"
    assert ".uv-cache" in pipeline[".uv"]["cache"]["paths"]
    assert pipeline["variables"]["UV_CACHE_DIR"] == ".uv-cache"
    scripts = {
        name: "\n".join(job.get("script", []))
        for name, job in pipeline.items()
        if isinstance(job, dict) and "script" in job
    }
    assert set(scripts) == {"pre-commit", "test", "dbt", "contract", "template-update"}
    for name in ["pre-commit", "test", "dbt", "contract"]:
        assert pipeline[name]["extends"] == ".uv" and "uv sync" in scripts[name], name
    assert "uv run pre-commit run --all-files" in scripts["pre-commit"]
    assert "uv run pytest" in scripts["test"]
    dbt_command = (
        "uv run dg launch --assets 'not group:upstreams+'"
        if with_example_pipeline
        else "uv run dg check defs"
    )
    assert dbt_command in scripts["dbt"]
    assert "uv run contract check" in scripts["contract"]
    assert "uv run contract diff .main-datacontract.yaml datacontract.yaml" in scripts["contract"]
    update = pipeline["template-update"]
    assert update["allow_failure"] is True
    assert update["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "copier check-update" in scripts["template-update"]


# --- Deployment artifacts (render only) ----------------------------------------------------


def dockerfile_instructions(project: Path) -> list[dockerfile.Command]:
    """The Dockerfile as BuildKit's own parser reads it."""
    return list(dockerfile.parse_file(str(project / "Dockerfile")))


def run_hadolint(project: Path) -> None:
    """hadolint, the Dockerfile linter, passes on the rendered Dockerfile."""
    completed = subprocess.run(
        [str(BIN / "hadolint"), "Dockerfile"],
        cwd=project,
        check=False,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_dockerfile_parses_and_lints(copie) -> None:
    project = render(copie, python_version="3.13")
    instructions = dockerfile_instructions(project)
    by_name = {}
    for instruction in instructions:
        by_name.setdefault(instruction.cmd, []).append(instruction)
    assert by_name["FROM"][0].value == ("python:3.13-slim",)
    (install_uv,) = [c for c in by_name["RUN"] if "pip install" in c.value[0]]
    assert "uv" in install_uv.value[0] and "curl" not in install_uv.value[0]
    assert any(c.value == ("uv run dbt parse",) for c in by_name["RUN"])
    assert by_name["EXPOSE"][0].value == ("4000",)
    (cmd,) = by_name["CMD"]
    assert cmd.json and cmd.value[:3] == ("dagster", "code-server", "start")
    assert "sales_orders.definitions" in cmd.value
    assert "ENTRYPOINT" not in by_name, "the Helm chart passes its command as args"
    run_hadolint(project)


def test_dockerignore_keeps_what_the_image_needs(copie) -> None:
    project = render(copie)
    patterns = [
        line
        for line in (project / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            pattern = pattern.lstrip("!").removeprefix("**/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.split("/")[-1], pattern):
                verdict = not negated
        return verdict

    copied = [c for c in dockerfile_instructions(project) if c.cmd == "COPY"]
    explicit = [name for c in copied for name in c.value[:-1] if name != "."]
    for name in [
        *explicit,
        "README.md",
        "src/sales_orders/definitions.py",
        "dbt/dbt_project.yml",
        "dbt/profiles.yml",
        "datacontract.yaml",
        "data/.gitignore",
        # A consumer's pins, and its copy of each upstream contract, which the image loads.
        "upstreams.yaml",
        "upstreams/sales.sales_orders.datacontract.yaml",
    ]:
        assert not ignored(name), name
    for name in [".venv", ".git", "data/warehouse.duckdb", "dbt/target", "tests"]:
        assert ignored(name), name


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_spark_image_carries_java(copie, warehouse: str) -> None:
    """Spark's session runs in the product's process and needs a Java runtime; no other
    engine adds a system package to the image."""
    project = render(copie, warehouse=warehouse)
    instructions = dockerfile_instructions(project)
    (base,) = [c.value[0] for c in instructions if c.cmd == "FROM"]
    installs = [c.value[0] for c in instructions if c.cmd == "RUN" and "apt-get" in c.value[0]]
    if warehouse == "spark":
        # The Debian release is named: the Java package exists per release.
        assert base == "python:3.11-slim-bookworm"
        (install,) = installs
        assert "apt-get install --yes --no-install-recommends openjdk-17-jre-headless" in install
        assert install.endswith("rm -rf /var/lib/apt/lists/*")
        # Installed as root, before the image switches to its unprivileged user.
        names = [c.cmd for c in instructions]
        position = next(i for i, c in enumerate(instructions) if c.value[0] == install)
        assert position < names.index("USER")
    else:
        assert base == "python:3.11-slim" and installs == []
    run_hadolint(project)


@pytest.mark.parametrize("product_slug", ["sales_orders", "web_events"])
def test_helm_values_name_the_image_and_module(copie, product_slug: str) -> None:
    project = render(copie, product_slug=product_slug, owner_team="growth-analytics")
    values = yaml.safe_load((project / "deploy/helm/values.yaml").read_text())
    user_code = values["dagster-user-deployments"]
    assert user_code["enabled"] is True
    (deployment,) = user_code["deployments"]
    k8s_name = product_slug.replace("_", "-")
    assert deployment["name"] == k8s_name
    assert deployment["image"]["repository"].endswith(f"/growth-analytics/{k8s_name}")
    assert deployment["image"]["tag"] and deployment["image"]["tag"] != "latest"
    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port> <codeServerArgs>`:
    # the image's own command, on the port the image exposes.
    instructions = dockerfile_instructions(project)
    (cmd,) = [c.value for c in instructions if c.cmd == "CMD"]
    exposed = [c.value[0] for c in instructions if c.cmd == "EXPOSE"]
    assert [str(deployment["port"])] == exposed
    chart_command = ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", exposed[0]]
    assert [*chart_command, *deployment["codeServerArgs"]] == list(cmd)
    assert "dagsterApiGrpcArgs" not in deployment
    args = deployment["codeServerArgs"]
    assert args[args.index("-m") + 1] == f"{product_slug}.definitions"
    # The warehouse and the published ports on the mounted volume.
    env = {item["name"]: item["value"] for item in deployment["env"]}
    (mount,) = [mount for mount in deployment["volumeMounts"] if mount["name"] == "warehouse"]
    for name in ["DUCKDB_PATH", "PUBLISH_DIR"]:
        assert Path(env[name]).is_absolute() and env[name].startswith(mount["mountPath"] + "/")
    assert mount["name"] in {volume["name"] for volume in deployment["volumes"]}


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_helm_values_deploy_the_prod_target(copie, warehouse: str) -> None:
    project = render(copie, warehouse=warehouse)
    values = yaml.safe_load((project / "deploy/helm/values.yaml").read_text())
    deployment = helm_deployment(project)
    guide = (project / "deploy/README.md").read_text()
    # The guide builds and pushes the image the values name.
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    assert f"docker build -t {image} ." in guide and f"docker push {image}" in guide
    assert "helm repo add dagster https://dagster-io.github.io/helm" in guide
    assert "helm upgrade --install dagster dagster/dagster" in guide
    assert "-f deploy/helm/values.yaml" in guide
    # One Kubernetes Job per run, with the code location's environment and volumes.
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    env = {item["name"]: item["value"] for item in deployment["env"]}
    assert env["DBT_TARGET"] == "prod"
    # Every variable the values set is one the profile reads, or the product's own.
    assert set(env) - DEPLOYMENT_VARIABLES <= set(prod_variables(project))
    assert required_variables(project) <= provided_variables(project)
    # Paths are absolute, on a volume the pods mount.
    mounts = {mount["name"]: mount["mountPath"] for mount in deployment["volumeMounts"]}
    assert set(mounts) == {volume["name"] for volume in deployment["volumes"]}
    for name, value in env.items():
        if value.startswith("/"):
            assert any(value.startswith(path + "/") for path in mounts.values()), name
    # Every Secret the pods read is created by the guide, and no value is in the values.
    secrets = created_secrets(guide)
    referenced = [item["name"] for item in deployment.get("envSecrets", [])]
    referenced += [
        volume["secret"]["secretName"] for volume in deployment["volumes"] if "secret" in volume
    ]
    assert set(referenced) == set(secrets)
    assert bool(referenced) == (warehouse in {"trino", "snowflake", "bigquery"})
    # DuckDB admits one writer: its pool gets one slot on the instance.
    if warehouse == "duckdb":
        assert values["concurrency"] == {"enabled": True, "pools": {"defaultLimit": 1}}
        declared = (project / "src/sales_orders/defs/product/defs.yaml").read_text()
        assert "pool: sales_orders_duckdb" in declared
        assert "`dagster instance concurrency set sales_orders_duckdb 1`" in guide
    else:
        assert "concurrency" not in values


def image_user(project: Path) -> tuple[int, int, str]:
    """The uid, gid and home folder of the user the image runs as."""
    instructions = dockerfile_instructions(project)
    users = [c.value[0] for c in instructions if c.cmd == "USER"]
    # Numeric, so that Kubernetes can check runAsNonRoot before the container starts.
    uid, gid = users[-1].split(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0, users
    (created,) = [c.value[0] for c in instructions if c.cmd == "RUN" and "useradd" in c.value[0]]
    assert f"groupadd --gid {gid} product" in created
    assert f"useradd --create-home --uid {uid} --gid {gid} product" in created
    return int(uid), int(gid), "/home/product"


def covered(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_helm_values_run_every_pod_unprivileged(copie, warehouse: str) -> None:
    """The code server and every run's pod run as the image's user, with no privilege, on
    a read-only root filesystem; what the product writes at run time is on a volume."""
    project = render(copie, warehouse=warehouse)
    values = yaml.safe_load((project / "deploy/helm/values.yaml").read_text())
    deployment = helm_deployment(project)
    uid, gid, home = image_user(project)
    # The chart puts a deployment's security contexts on its code server only: the run
    # launcher sets the runs' own, for every run of the instance.
    runs = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    pods = {
        "code server": deployment["podSecurityContext"],
        "run": runs["podSpecConfig"]["securityContext"],
    }
    containers = {
        "code server": deployment["securityContext"],
        "run": runs["containerConfig"]["securityContext"],
    }
    for name, pod in pods.items():
        assert pod == {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": gid,
            # The volumes belong to the image's group, so its user can write to them.
            "fsGroup": gid,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
    for name, container in containers.items():
        assert container == {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": gid,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
    # A run's pod gets the code location's volumes, and with them its writable folders.
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}

    # With the root filesystem read-only, every folder written at run time is a volume.
    instructions = dockerfile_instructions(project)
    root = next(c.value[0] for c in instructions if c.cmd == "WORKDIR")
    env = {item["name"]: item["value"] for item in deployment["env"]}
    read_only = {"GOOGLE_APPLICATION_CREDENTIALS"}  # the key, mounted from its Secret
    written = [
        "/tmp",  # Python's tempfile; Spark's scratch folders and the JVM's files
        home,  # clients' caches and ids (~/.dagster)
        values["global"]["dagsterHome"],  # the chart's DAGSTER_HOME
        f"{root}/dbt/target",  # the manifest, its lock, the runs' results (target/run)
        f"{root}/dbt/logs",  # dbt.log
        # The warehouse, the published ports, Spark's tables and metastore.
        *[value for name, value in env.items() if value.startswith("/") and name not in read_only],
    ]
    assert env["PUBLISH_DIR"] in written
    volumes = {volume["name"]: volume for volume in deployment["volumes"]}
    writable = [
        mount["mountPath"]
        for mount in deployment["volumeMounts"]
        if not mount.get("readOnly")
        and {"emptyDir", "persistentVolumeClaim"} & set(volumes[mount["name"]])
    ]
    for path in written:
        assert covered(path, writable), f"{path} is written at run time but is on no volume"
    # The mounts hide none of the image's code: the product's folder, its sources and its
    # dbt project stay the image's.
    for path in [root, f"{root}/src", f"{root}/dbt", f"{root}/dbt/models", f"{root}/.venv"]:
        assert not covered(path, [m["mountPath"] for m in deployment["volumeMounts"]]), path
    # Python does not try to write bytecode beside the read-only sources.
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


# --- Installed products: the gates pass, the image's commands exist ------------------------


def installed_product(copie_session, **answers) -> Path:
    """Render, install and commit a product, as a team's first commit would be."""
    result = copie_session.copy(extra_answers=answers)
    assert result.exit_code == 0, result.exception
    project = result.project_dir
    uv("sync", cwd=project)
    # uv.lock is the team's to commit (docs/anatomy.md), so it is part of the first commit.
    git_init(project)
    return project


@pytest.fixture(scope="session")
def governed_product(copie_session) -> Path:
    """The default product: example pipeline, GitHub workflow."""
    return installed_product(copie_session)


@pytest.fixture(scope="session")
def governed_skeleton(copie_session) -> Path:
    """The skeleton, with GitLab CI, so each CI file meets the YAML and whitespace hooks."""
    return installed_product(copie_session, with_example_pipeline=False, ci_provider="gitlab")


@pytest.mark.product
@pytest.mark.parametrize("variant", ["governed_product", "governed_skeleton"])
def test_fresh_render_passes_pre_commit_unchanged(request, variant: str) -> None:
    project = request.getfixturevalue(variant)
    completed = subprocess.run(
        [UV, "run", "pre-commit", "run", "--all-files", "--color=never"],
        cwd=project,
        env=product_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    changed = run(["git", "status", "--porcelain"], cwd=project).stdout
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert changed == "", f"pre-commit changed files of a fresh render:\n{changed}"
    for hook in [
        "ruff check",
        "ruff format",
        "sqlfluff lint",
        "YAML parses",
        "no secrets",
        "data contract agrees",
    ]:
        assert re.search(re.escape(hook) + r".*(Passed|Skipped)", completed.stdout), hook


@pytest.mark.product
def test_sqlfluff_rejects_a_badly_styled_model(governed_product: Path) -> None:
    """The SQL gate is live: upper-case keywords and a leading comma fail it."""
    model = governed_product / "dbt" / "models" / "staging" / "stg_badly_styled.sql"
    model.write_text("SELECT\n    customer_id\n    , email\nFROM {{ ref('stg_customers') }}\n")
    try:
        completed = subprocess.run(
            [UV, "run", "sqlfluff", "lint", str(model)],
            cwd=governed_product,
            env=product_env(),
            check=False,
            capture_output=True,
            text=True,
        )
    finally:
        model.unlink()
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "CP01" in completed.stdout and "LT04" in completed.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.product
def test_dockerfile_commands_exist_in_the_product(governed_product: Path, tmp_path: Path) -> None:
    """Each RUN after the base image's pip, and the CMD, work in the installed product."""
    project = governed_product
    instructions = dockerfile_instructions(project)
    env = {**product_env(), "UV_NO_DEV": "1", "UV_PYTHON_DOWNLOADS": "never"}
    workdir = project
    for instruction in instructions:
        if instruction.cmd == "WORKDIR":
            # The image keeps the repository's layout under its own folder.
            workdir = project / Path(instruction.value[0]).relative_to(
                next(c.value[0] for c in instructions if c.cmd == "WORKDIR")
            )
        if instruction.cmd != "RUN" or "pip install" in instruction.value[0]:
            continue
        if instruction.value[0].startswith(("groupadd", "useradd")):
            continue
        command = instruction.value[0].split()
        assert command[0] == "uv", instruction.value
        if command[1] == "sync":
            command.append("--dry-run")  # the product is installed; check the flags resolve
        completed = subprocess.run(
            [UV, *command[1:]],
            cwd=workdir,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert completed.returncode == 0, f"{instruction.value}: {completed.stderr[-3000:]}"
    assert (project / "dbt" / "target" / "manifest.json").exists()

    # CMD and HEALTHCHECK, on a free loopback port: the code server loads the module.
    (cmd,) = [c.value for c in instructions if c.cmd == "CMD"]
    (health,) = [c.value[1:] for c in instructions if c.cmd == "HEALTHCHECK"]
    port = str(free_port())
    cmd = [{"0.0.0.0": "127.0.0.1", "4000": port}.get(arg, arg) for arg in cmd]
    health = [{"4000": port}.get(arg, arg) for arg in health]
    # The image puts the product's environment first on PATH; dbt is found there.
    env["PATH"] = f"{project / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    log_path = tmp_path / "code-server.log"
    with log_path.open("w") as log:
        # A session of its own: the server's worker process is stopped with it below.
        server = subprocess.Popen(
            cmd, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log_text = log_path.read_text()
            if "Error while importing code" in log_text or server.poll() is not None:
                pytest.fail(f"the code server did not load the module:\n{log_text[-4000:]}")
            if f"Started Dagster code server for module {cmd[cmd.index('-m') + 1]}" in log_text:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the code server did not start in time:\n{log_path.read_text()[-4000:]}")
        checked = subprocess.run(
            health, cwd=project, env=env, check=False, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

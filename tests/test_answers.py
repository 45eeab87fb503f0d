"""Bad answers are rejected with a message that names the rule; good ones pass."""

import subprocess
from pathlib import Path

import copier
import pytest
import reserved_names
import yaml

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = yaml.safe_load((ROOT / "copier.yml").read_text())

INVALID = [
    ("product_name", "", "must not be empty"),
    ("product_name", "   ", "must not be empty"),
    ("product_name", "x" * 81, "at most 80 characters"),
    # A line break would start a new line in the comments that open the Dockerfile, the CI
    # files and CODEOWNERS: `Sales\nRUN touch pwned` would add a RUN step to the image.
    ("product_name", "Sales\nRUN touch pwned", "single line"),
    ("product_name", "Sales\r\nRUN touch pwned", "single line"),
    ("product_name", "Sales\n", "single line"),
    # YAML counts these as line breaks too, in datacontract.yaml's opening comment.
    ("product_name", "Sales\u2028kind: Other", "single line"),
    ("product_name", "Sales\x85kind: Other", "single line"),
    ("product_name", "Sales\tOrders", "control characters"),
    ("product_slug", "sales\n", "single line"),
    ("product_slug", "\nsales", "single line"),
    ("product_slug", "Sales", "lowercase identifier"),
    ("product_slug", "sales-orders", "lowercase identifier"),
    ("product_slug", "sales orders", "lowercase identifier"),
    ("product_slug", "2sales", "starting with a letter"),
    ("product_slug", "_sales", "starting with a letter"),
    ("product_slug", "class", "Python keyword"),
    ("product_slug", "import", "Python keyword"),
    ("product_slug", "dagster", "package the product installs"),
    ("product_slug", "s" * 41, "at most 40 characters"),
    ("product_slug", "json", "standard-library module"),
    ("product_slug", "pandas", "package the product installs"),
    # A package named like a module shadows it: `select` broke the product with
    # `No module named 'select.definitions'`.
    ("product_slug", "select", "standard-library module"),
    ("product_slug", "secrets", "standard-library module"),
    ("product_slug", "array", "standard-library module"),
    ("product_slug", "code", "standard-library module"),
    ("product_slug", "token", "standard-library module"),
    ("product_slug", "telnetlib", "standard-library module"),  # removed in 3.13, in 3.11
    ("product_slug", "sqlglot", "package the product installs"),
    ("product_slug", "open_data_contract_standard", "package the product installs"),
    ("product_slug", "dagster_data_product", "package the product installs"),
    ("product_slug", "pydantic_core", "package the product installs"),
    ("product_slug", "pyspark", "package the product installs"),  # warehouse: spark
    ("product_slug", "snowflake", "package the product installs"),  # warehouse: snowflake
    ("product_slug", "tests", "package the product installs"),
    ("domain", "Sales", "lowercase identifier"),
    ("domain", "sales-ops", "lowercase identifier"),
    ("domain", "9sales", "starting with a letter"),
    ("domain", "for", "Python keyword"),
    ("domain", "d" * 41, "at most 40 characters"),
    ("domain", "sales\n", "single line"),
    ("description", "", "must not be empty"),
    ("description", "two\nlines", "single line"),
    ("description", "one line\n", "single line"),
    ("description", "two\rlines", "single line"),
    ("description", "d" * 301, "at most 300 characters"),
    ("owner_team", "Sales Data", "team slug"),
    ("owner_team", "-sales", "team slug"),
    ("owner_team", "t" * 61, "at most 60 characters"),
    ("owner_team", "sales-data\n", "single line"),
    ("owner_email", "sales", "email address"),
    ("owner_email", "sales@", "email address"),
    ("owner_email", "sales@example", "email address"),
    ("owner_email", "sales team@example.com", "email address"),
    ("owner_email", "data@example.x", "2 to 63 letters"),
    ("owner_email", "data@example.com2", "2 to 63 letters"),
    ("owner_email", "-team@example.com", "email address"),
    ("owner_email", ".team@example.com", "email address"),
    ("owner_email", "+team@example.com", "email address"),
    ("owner_email", "sales@example.com\n", "single line"),
    ("owner_email", "sales@example.com\nsales@example.org", "single line"),
    ("python_version", "3.9", "3.9"),
    ("upstream_contracts", "../sales/datacontract.yaml", "must be a list of paths"),
    ("upstream_contracts", {"sales": "../sales/datacontract.yaml"}, "must be a list of paths"),
    ("upstream_contracts", ["../sales/contract.json"], "path of a contract's .yaml file"),
    ("upstream_contracts", [3], "path of a contract's .yaml file"),
    ("upstream_contracts", ["a.json", "ok.yaml", "b.txt"], "file, got a.json, b.txt"),
    ("upstream_contracts", ["../sales/datacontract.yaml\n"], "path of a contract's .yaml file"),
    ("automation", "hourly", "hourly"),
    ("warehouse", "postgres", "'postgres' is not in ['duckdb', 'spark', 'trino'"),
    ("freshness_sla_hours", 0, "at least 1"),
    ("freshness_sla_hours", -3, "at least 1"),
    ("freshness_sla_hours", 9000, "at most 8760"),
    ("freshness_sla_hours", "-3", "at least 1"),
    # Not whole numbers: Copier's own int() refused the text ones without naming the
    # question, and took 1.5 and True as 1.
    ("freshness_sla_hours", "daily", "must be a whole number of hours"),
    ("freshness_sla_hours", "1.5", "must be a whole number of hours"),
    ("freshness_sla_hours", "", "must be a whole number of hours"),
    ("freshness_sla_hours", "24h", "must be a whole number of hours"),
    ("freshness_sla_hours", "2_4", "must be a whole number of hours"),
    ("freshness_sla_hours", "24\n", "must be a whole number of hours"),
    ("freshness_sla_hours", 1.5, "must be a whole number of hours"),
    ("freshness_sla_hours", True, "must be a whole number of hours"),
    ("freshness_sla_hours", [24], "must be a whole number of hours"),
    # Copier reads any text as a boolean, `maybe` as true: only a real yes or no is taken.
    ("with_example_pipeline", "maybe", "must be true or false"),
    ("with_example_pipeline", "", "must be true or false"),
    ("with_example_pipeline", "none", "must be true or false"),
    ("with_example_pipeline", "2", "must be true or false"),
    ("with_example_pipeline", 2, "must be true or false"),
]

VALID = [
    ("product_slug", "s" * 40),
    ("product_slug", "orders_v2"),
    ("domain", "customer_360"),
    ("owner_team", "growth_analytics-eu"),
    ("owner_email", "first.last+data@corp.example.co.uk"),
    ("owner_email", "_team@example.com"),
    ("owner_email", "growth@corp.digital"),
    # Longer than Dagster takes for an asset owner: the team alone owns the assets.
    ("owner_email", "growth@corp.technology"),
    ("owner_email", "data@example.engineering"),
    ("freshness_sla_hours", 1),
    ("freshness_sla_hours", 8760),
]


def render(tmp_path: Path, **answers) -> None:
    copier.run_copy(
        str(ROOT),
        str(tmp_path / "product"),
        data=answers,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )


@pytest.mark.parametrize(("question", "value", "message"), INVALID)
def test_invalid_answer_is_rejected(tmp_path: Path, question: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        render(tmp_path, **{question: value})
    assert question in str(error.value)
    assert message in str(error.value)
    # Nothing half-rendered is left behind for a rejected answer.
    assert not (tmp_path / "product" / "pyproject.toml").exists()


@pytest.mark.parametrize(("question", "value"), VALID)
def test_valid_answer_is_accepted(tmp_path: Path, question: str, value: str) -> None:
    render(tmp_path, **{question: value})
    assert (tmp_path / "product" / "pyproject.toml").exists()


@pytest.mark.parametrize("value", [48, "48"])
def test_freshness_is_a_whole_number_in_the_answers_and_the_contract(
    tmp_path: Path, value: object
) -> None:
    """Given as a number or as `-d` text, the answer is stored and rendered as the number."""
    render(tmp_path, freshness_sla_hours=value)
    answers = yaml.safe_load((tmp_path / "product" / ".copier-answers.yml").read_text())
    assert answers["freshness_sla_hours"] == 48 and type(answers["freshness_sla_hours"]) is int
    contract = yaml.safe_load((tmp_path / "product" / "datacontract.yaml").read_text())
    assert {"property": "freshness", "value": 48, "unit": "h"}.items() <= next(
        sla for sla in contract["slaProperties"] if sla["property"] == "freshness"
    ).items()


@pytest.mark.parametrize(
    ("value", "meaning"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        ("yes", True),
        ("no", False),
        (" y ", True),
        ("n", False),
        ("on", True),
        ("off", False),
        ("1", True),
        ("0", False),
    ],
)
def test_with_example_pipeline_takes_yes_and_no(tmp_path: Path, value: object, meaning: bool) -> None:
    render(tmp_path, with_example_pipeline=value)
    answers = yaml.safe_load((tmp_path / "product" / ".copier-answers.yml").read_text())
    assert answers["with_example_pipeline"] is meaning
    assert (tmp_path / "product" / "dbt" / "models" / "marts").exists() is meaning


@pytest.mark.parametrize("automation", ["eager", "cron"])
def test_each_automation_choice_renders(tmp_path: Path, automation: str) -> None:
    render(tmp_path, automation=automation)
    declared = tmp_path / "product" / "src" / "sales_orders" / "defs" / "product" / "defs.yaml"
    assert yaml.safe_load(declared.read_text())["attributes"]["automation"] == automation


def test_upstream_contracts_seed_upstreams_yaml(tmp_path: Path) -> None:
    paths = ["../sales_orders/datacontract.yaml", "/srv/products/crm/datacontract.yml"]
    render(tmp_path, upstream_contracts=paths)
    seeded = yaml.safe_load((tmp_path / "product" / "upstreams.yaml").read_text())
    assert seeded == {"upstreams": [{"contract": path} for path in paths]}


def test_no_upstream_contracts_by_default(tmp_path: Path) -> None:
    render(tmp_path)
    assert yaml.safe_load((tmp_path / "product" / "upstreams.yaml").read_text()) == {"upstreams": []}


def test_slug_lists_are_what_reserved_names_computes() -> None:
    """copier.yml's inline lists cannot go stale: `tests/reserved_names.py --write` redoes them."""
    inline = reserved_names.lists_in(QUESTIONS["product_slug"]["validator"])
    assert inline == {name: compute() for name, compute in reserved_names.LISTS.items()}


def test_domain_keywords_are_what_reserved_names_computes() -> None:
    inline = reserved_names.lists_in(QUESTIONS["domain"]["validator"])
    assert inline == {"keywords": reserved_names.keywords()}


def test_committed_stdlib_names_match_the_running_python() -> None:
    """The names committed for the running version are its sys.stdlib_module_names."""
    version = reserved_names.running_version()
    if version not in reserved_names.STDLIB_BY_VERSION:
        pytest.skip(f"Python {version} is not a python_version a product may run on")
    assert reserved_names.STDLIB_BY_VERSION[version] == reserved_names.running_stdlib()


def test_reserved_lists_cover_the_stdlib_of_every_python_version() -> None:
    inline = reserved_names.lists_in(QUESTIONS["product_slug"]["validator"])
    assert reserved_names.PYTHON_VERSIONS == tuple(QUESTIONS["python_version"]["choices"])
    for names in reserved_names.STDLIB_BY_VERSION.values():
        assert names <= set(inline["stdlib_modules"])


#: Files a developer or a tool leaves in a product that must reach neither the repository nor
#: the image: environment files and keys with credentials, dbt's per-user file, and the
#: `target/` folder dbt writes next to wherever it runs (`target/.manifest.lock` included).
LOCAL_FILES = [
    ".env",
    ".env.local",
    ".env.production",
    "dbt/.env",
    "server.pem",
    "deploy/tls.key",
    "secrets/warehouse-password.txt",
    "deploy/secrets/token",
    "dbt/.user.yml",
    "target/.manifest.lock",
    "dbt/target/.manifest.lock",
    "src/sales_orders/target/manifest.json",
]

#: The .dockerignore lines that keep them out of the image (its patterns are anchored at the
#: build context, hence `**/`).
DOCKERIGNORE_LINES = [
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/secrets",
    "dbt/.user.yml",
    "**/target",
]


def test_local_secrets_and_dbt_output_stay_out_of_git(tmp_path: Path) -> None:
    render(tmp_path)
    product = tmp_path / "product"
    subprocess.run(["git", "init", "-q"], cwd=product, check=True)
    for name in [*LOCAL_FILES, ".env.example"]:
        (product / name).parent.mkdir(parents=True, exist_ok=True)
        (product / name).write_text("x\n")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=product,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    untracked = {line[3:] for line in status.splitlines()}
    assert not untracked & set(LOCAL_FILES)
    # A template of the variables without their values is meant to be committed.
    assert ".env.example" in untracked


def test_local_secrets_and_dbt_output_stay_out_of_the_image(tmp_path: Path) -> None:
    render(tmp_path)
    lines = (tmp_path / "product" / ".dockerignore").read_text().splitlines()
    assert [line for line in DOCKERIGNORE_LINES if line not in lines] == []


@pytest.mark.parametrize(
    "question", ["product_name", "freshness_sla_hours", "warehouse", "with_example_pipeline"]
)
def test_an_empty_answer_is_refused_naming_the_question_and_its_type(
    tmp_path: Path, question: str
) -> None:
    """Copier itself refuses a null answer (from a data file) before any rule, by name."""
    kind = QUESTIONS[question]["type"] if question != "freshness_sla_hours" else "int"
    with pytest.raises(copier.errors.InvalidTypeError) as error:
        render(tmp_path, **{question: None})
    assert f'to question "{question}" of type "{kind}"' in str(error.value)

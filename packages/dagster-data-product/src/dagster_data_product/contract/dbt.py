"""The dbt side of each output port, generated from the contract.

The contract is the one source of a port's promises; `uv run contract dbt` writes what dbt
needs to keep them, and `contract check` (and every load of the product) fails while those
files say anything else:

- `<model>.yml` beside the SQL of the port's model: the columns in the contract's order
  with their types and descriptions, a not-null constraint on every required (or primary
  key) column, the dbt model contract enforced, and the rules dbt's own generic tests
  express (`unique`, `accepted_values`, `relationships`);
- `tests/contract/<rule>.sql` for every other rule: a singular dbt test that computes the
  rule's number on the model and returns a row when the number breaks the rule.

So each promise is checked once. The engine keeps the columns, their types and the
required columns when dbt builds the table under its enforced contract; every other rule is
exactly one dbt test named after the rule, which dagster-dbt reports as a blocking asset
check of the port's model. A row that breaks a rule fails that rule's check and no other.
"""

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .model import YAML_LOADER, Contract, ContractError, Port, QualityRule

#: The command that writes the files, as error messages name it.
WRITE_COMMAND = "uv run contract dbt"
#: Where the singular tests of the rules go, under the dbt project.
RULE_TESTS = Path("tests") / "contract"
#: Engines whose dbt adapters have no VARCHAR type: the contract's varchar is their string.
_STRING_ENGINES = {"spark", "bigquery"}
#: Engines whose tables (Spark's Parquet tables) cannot hold a not-null constraint: there a
#: required column is checked by dbt's not_null test instead.
_UNENFORCED_NOT_NULL = {"spark"}
_COMPARISONS = {
    "mustBe": "= {0}",
    "mustNotBe": "<> {0}",
    "mustBeGreaterThan": "> {0}",
    "mustBeGreaterOrEqualTo": ">= {0}",
    "mustBeLessThan": "< {0}",
    "mustBeLessOrEqualTo": "<= {0}",
    "mustBeBetween": "between {0} and {1}",
    "mustNotBeBetween": "not between {0} and {1}",
}
_HEADER = (
    "Generated from {contract} (port {port}) by `{command}`:\n"
    "change the contract and run it again; `uv run contract check` fails while this file differs."
)


@dataclass(frozen=True)
class RuleTest:
    """The one dbt test that checks one promise of a port; `name` is its check's name."""

    name: str
    description: str
    column: str | None = None
    #: A generic test of dbt's own (`unique`, `accepted_values`, `relationships`) and its
    #: arguments, written in the model's YAML ...
    generic: str | None = None
    arguments: tuple[tuple[str, Any], ...] = ()
    #: ... or the SQL of the number a singular test compares with `comparison`.
    observed: str | None = None
    comparison: str | None = None


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _comparison(rule: QualityRule, where: str) -> str:
    bounds = rule.threshold if isinstance(rule.threshold, list) else [rule.threshold]
    template = _COMPARISONS[rule.operator]
    if len(bounds) != template.count("{") or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds
    ):
        raise ContractError(
            f"{where}: {rule.operator} needs "
            + ("two numbers, [low, high]" if "between" in template else "a number")
            + f", got {rule.threshold!r}"
        )
    return template.format(*bounds)


def _ref(port: Port) -> str:
    return "{{ ref('" + port.model + "') }}"


def _quoted(column: str, engine: str) -> str:
    # The adapter quotes the way its engine does (double quotes, backticks, ...). Snowflake
    # keeps the columns dbt creates unquoted in upper case, and a quoted name must match it;
    # DuckDB, where the dev target runs, ignores the case of quoted names.
    name = column.upper() if engine == "snowflake" else column
    return "{{ adapter.quote('" + name + "') }}"


def _quality_test(port: Port, rule: QualityRule, where: str, engine: str) -> RuleTest:
    description = rule.description or f"Quality rule {rule.name} of port {port.name}."
    table, column = _ref(port), _quoted(rule.column, engine) if rule.column else ""
    valid = rule.arguments.get("validValues")
    if rule.metric == "invalidValues" and rule.arguments.get("pattern") is not None:
        raise ContractError(
            f"{where}: invalidValues with a pattern is not supported (engines spell regular "
            "expressions differently): write it as a rule of type sql in your engine's SQL"
        )
    # dbt's accepted_values writes each value between single quotes as it is.
    plain = valid and not any("'" in str(value) for value in valid)
    if rule.metric == "invalidValues" and plain and (rule.operator, rule.threshold) == ("mustBe", 0):
        quote = all(isinstance(value, str) for value in valid)
        arguments = (("values", list(valid)),) + (() if quote else (("quote", False),))
        return RuleTest(rule.name, description, rule.column, "accepted_values", arguments)
    if rule.kind == "sql":
        observed = rule.query.replace("${table}", table).replace("${column}", column)
    elif rule.metric == "rowCount":
        observed = f"select count(*) from {table}"
    elif rule.metric in ("nullValues", "missingValues"):
        missing = [v for v in rule.arguments.get("missingValues", []) if v is not None]
        condition = f"{column} is null"
        if missing:
            condition += f" or {column} in ({', '.join(_literal(v) for v in missing)})"
        observed = f"select count(*) from {table} where {condition}"
    elif rule.metric == "invalidValues":
        if not valid:
            raise ContractError(f"{where}: invalidValues needs validValues")
        listed = ", ".join(_literal(v) for v in valid)
        observed = f"select count(*) from {table} where {column} is not null and {column} not in ({listed})"
    elif rule.metric == "duplicateValues":
        observed = f"select count({column}) - count(distinct {column}) from {table}"
    else:
        raise ContractError(f"{where}: unknown metric {rule.metric!r}")
    return RuleTest(
        rule.name, description, rule.column, observed=observed.strip().rstrip(";"),
        comparison=_comparison(rule, where),
    )


def rule_tests(contract: Contract, port: Port, engine: str) -> list[RuleTest]:
    """The dbt test of every promise of `port` that the engine does not keep itself when
    dbt builds the model under its contract (the columns, their types, and on most engines
    the required ones)."""
    where = f"{contract.path.name}: port {port.name}"
    tests = []
    key = port.primary_key
    for column in port.columns:
        if engine in _UNENFORCED_NOT_NULL and (column.required or column.name in key):
            tests.append(
                RuleTest(
                    f"{column.name}_is_not_null",
                    f"{column.name} is required: no row has it null.",
                    column.name,
                    "not_null",
                )
            )
        if column.name in port.unique_columns:
            tests.append(
                RuleTest(
                    f"{column.name}_is_unique",
                    f"{column.name} is unique"
                    + (": the port's primary key." if key == (column.name,) else "."),
                    column.name,
                    "unique",
                )
            )
        for target_port, target_column, name in column.references:
            target = next((p for p in contract.ports if p.name == target_port), None)
            if target is None or target.column(target_column) is None:
                raise ContractError(
                    f"{where}: property {column.name} references {target_port}.{target_column},"
                    " which is not a property of a port of this contract"
                )
            tests.append(
                RuleTest(
                    name or f"{column.name}_references_{target_port}",
                    f"Every {column.name} is a {target_column} of port {target_port}.",
                    column.name,
                    "relationships",
                    (("to", f"ref('{target.model}')"), ("field", target_column)),
                )
            )
    if len(key) > 1:
        table = _ref(port)
        columns = ", ".join(_quoted(c, engine) for c in key)
        any_null = " or ".join(f"{_quoted(c, engine)} is null" for c in key)
        tests.append(
            RuleTest(
                f"{port.name}_primary_key_is_unique",
                f"The primary key ({', '.join(key)}) identifies one row and is never null.",
                # Rows minus distinct keys counts duplicates; rows with a null key part are added.
                observed=(
                    f"select (select count(*) from {table})"
                    f" - (select count(*) from (select distinct {columns} from {table}) as keys)"
                    f" + (select count(*) from {table} where {any_null})"
                ),
                comparison="= 0",
            )
        )
    for rule in port.quality:
        tests.append(_quality_test(port, rule, f"{where}, quality rule {rule.name}", engine))
    return tests


def check_names(contract: Contract, engine: str) -> dict[str, list[str]]:
    """The names of the contract's checks (its dbt tests) on `engine`, by port name."""
    return {
        port.name: [test.name for test in rule_tests(contract, port, engine)]
        for port in contract.ports
    }


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as the product's other YAML files do."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _dump(document: Any) -> str:
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
        default_flow_style=False,
    )


def _comment(text: str, prefix: str) -> str:
    return "".join(f"{prefix} {line}".rstrip() + "\n" for line in text.splitlines())


def _dbt_type(physical_type: str, engine: str) -> str:
    if engine in _STRING_ENGINES and physical_type.strip().lower() == "varchar":
        return "string"
    return physical_type


def _generic(test: RuleTest) -> dict[str, Any]:
    body: dict[str, Any] = {"name": test.name}
    if test.arguments:
        body["arguments"] = dict(test.arguments)
    body["config"] = {"meta": {"description": test.description}}
    return {test.generic: body}


def render_model_yaml(
    contract: Contract, port: Port, engine: str, tests: list[RuleTest] | None = None
) -> str:
    """The YAML of the port's dbt model, as `contract dbt` writes it (`tests`: the port's
    `rule_tests`, when the caller has them already)."""
    if tests is None:
        tests = rule_tests(contract, port, engine)
    tests = [t for t in tests if t.generic]
    key = set(port.primary_key)
    columns = []
    for column in port.columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "data_type": _dbt_type(column.physical_type, engine),
        }
        if column.description:
            entry["description"] = column.description
        if column.required or column.name in key:
            entry["constraints"] = [{"type": "not_null"}]
        own = [_generic(t) for t in tests if t.column == column.name]
        if own:
            entry["data_tests"] = own
        columns.append(entry)
    model = {
        "name": port.model,
        "description": port.description,
        "config": {"contract": {"enforced": True}, "meta": {"contract_port": port.name}},
        "columns": columns,
    }
    header = _HEADER.format(contract=contract.path.name, port=port.name, command=WRITE_COMMAND)
    return _comment(header, "#") + _dump({"version": 2, "models": [model]})


def render_rule_test(contract: Contract, port: Port, test: RuleTest) -> str:
    """The singular dbt test of one rule: a row when the rule's number breaks the rule."""
    header = _HEADER.format(contract=contract.path.name, port=port.name, command=WRITE_COMMAND)
    meta = {"description": test.description}
    return (
        _comment(f"Rule {test.name}: {test.description}\n{header}", "--")
        + "{{ config(meta=" + repr(meta) + ") }}\n"
        + "select observed\n"
        + f"from (select ({test.observed}) as observed) as contract_rule\n"
        + f"where observed is null or not (observed {test.comparison})\n"
    )


def _model_sql(dbt_dir: Path, model: str) -> Path | None:
    found = sorted((dbt_dir / "models").rglob(f"{model}.sql"))
    return found[0] if found else None


def generated_files(contract: Contract, dbt_dir: Path, engine: str) -> dict[Path, str]:
    """Every file `contract dbt` writes, with its text; a ContractError names what is missing."""
    singular: dict[str, str] = {}
    files = {}
    for port in contract.ports:
        sql = _model_sql(dbt_dir, port.model)
        if sql is None:
            raise ContractError(
                f"port {port.name}: no dbt model {port.model}.sql under {dbt_dir / 'models'} "
                f"(the port's customProperties dbtModel): write the model, then `{WRITE_COMMAND}`"
            )
        tests = rule_tests(contract, port, engine)
        files[sql.with_suffix(".yml")] = render_model_yaml(contract, port, engine, tests)
        names = [test.name for test in tests]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ContractError(
                f"{contract.path.name}: port {port.name} has two checks named {twice[0]!r} (a "
                "quality rule's name is also the name of a check the port's properties imply): "
                "rename the rule"
            )
        for test in tests:
            if test.observed is None:
                continue
            # A singular test is named after its file, which is one per dbt project.
            if test.name in singular:
                raise ContractError(
                    f"{contract.path.name}: the rule name {test.name!r} of port {port.name} is "
                    f"also a rule of port {singular[test.name]}: every rule needs its own name"
                )
            singular[test.name] = port.name
            files[dbt_dir / RULE_TESTS / f"{test.name}.sql"] = render_rule_test(
                contract, port, test
            )
    return files


def _stale_rule_tests(dbt_dir: Path, expected: dict[Path, str]) -> list[Path]:
    return [
        path for path in sorted((dbt_dir / RULE_TESTS).glob("*.sql")) if path not in expected
    ]


def _other_entries(dbt_dir: Path, expected: dict[Path, str], models: set[str]) -> list[str]:
    """Hand-written YAML entries of a port's model, which would clash with the generated one."""
    found = []
    for path in sorted((dbt_dir / "models").rglob("*.yml")):
        if path in expected:
            continue
        text = path.read_text()
        if not any(model in text for model in models):
            continue  # most files: parsed only when they could name a port's model
        document = yaml.load(text, Loader=YAML_LOADER) or {}
        for model in document.get("models") or []:
            if model.get("name") in models:
                found.append(
                    f"{path.relative_to(dbt_dir.parent)} describes port model {model['name']}, "
                    f"whose YAML `{WRITE_COMMAND}` writes: move what it adds into the contract "
                    "and delete the entry"
                )
    return found


def dbt_disagreements(contract: Contract, dbt_dir: Path, engine: str) -> list[str]:
    """How the project's dbt files differ from what the contract generates; empty if not."""
    try:
        expected = generated_files(contract, dbt_dir, engine)
    except ContractError as error:
        return [str(error)]
    reports = []
    for path, text in expected.items():
        name = path.relative_to(dbt_dir.parent)
        if not path.exists():
            reports.append(f"{name} is missing: run `{WRITE_COMMAND}`")
        elif (actual := path.read_text()) != text:
            diff = difflib.unified_diff(
                text.splitlines(), actual.splitlines(),
                fromfile=f"{name} (generated from {contract.path.name})",
                tofile=f"{name} (as it is)", lineterm="",
            )
            reports.append("\n".join(diff) + f"\nrun `{WRITE_COMMAND}` to write it")
    for path in _stale_rule_tests(dbt_dir, expected):
        reports.append(
            f"{path.relative_to(dbt_dir.parent)} checks no rule of the contract anymore: "
            f"run `{WRITE_COMMAND}` to remove it"
        )
    reports += _other_entries(dbt_dir, expected, {port.model for port in contract.ports})
    return reports


def write_dbt_files(contract: Contract, dbt_dir: Path, engine: str) -> list[Path]:
    """Write the generated files that differ and remove stale rule tests; the paths changed."""
    expected = generated_files(contract, dbt_dir, engine)
    changed = []
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    for path in _stale_rule_tests(dbt_dir, expected):
        path.unlink()
        changed.append(path)
    return changed

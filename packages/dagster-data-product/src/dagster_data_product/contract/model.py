"""Loading the contract: ODCS v3 JSON schema, the typed ODCS model, then this product's rules.

Whatever is wrong, the error names the file, the field and the problem.
"""

import functools
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import yaml
import open_data_contract_standard as odcs
from open_data_contract_standard.model import OpenDataContractStandard

#: The contract's file name in a product's root folder.
CONTRACT_FILE = "datacontract.yaml"
#: Environment variable that moves the published ports (absolute path), e.g. in tests.
PUBLISH_DIR_ENV = "PUBLISH_DIR"
PUBLISHED_SERVER = "published"
#: ODCS tools (datacontract-cli) read a schema object's data at its server's path with this
#: placeholder replaced by the object's name: here the output port's name.
PORT_PLACEHOLDER = "{model}"
#: The file name of a published port in the `published` server's path.
PUBLISHED_FILE = f"{PORT_PLACEHOLDER}.parquet"
#: The custom property of a schema object that names the dbt model behind the port.
DBT_MODEL_PROPERTY = "dbtModel"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+][0-9A-Za-z.-]+)?$")
FRESHNESS_UNITS_IN_HOURS = {"h": 1, "hour": 1, "hours": 1, "d": 24, "day": 24, "days": 24}
#: libyaml's loader where PyYAML was built with it: several times faster on a contract.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ContractError(ValueError):
    """The contract cannot be used; the message names the file, the field and the problem."""


@dataclass(frozen=True)
class QualityRule:
    """One ODCS quality rule, on a port (`column` is None) or on one of its columns."""

    name: str
    kind: str  # "library" or "sql"
    metric: str | None
    query: str | None
    arguments: dict[str, Any]
    operator: str
    threshold: Any
    column: str | None
    description: str


@dataclass(frozen=True)
class Column:
    """One property of an output port."""

    name: str
    logical_type: str
    physical_type: str
    required: bool
    unique: bool
    primary_key: bool
    primary_key_position: int
    description: str
    #: Foreign keys: (port, property, check name or None) this column's values must exist in.
    references: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True)
class Port:
    """An output port: one schema object of the contract, backed by one dbt model."""

    name: str
    model: str
    description: str
    columns: tuple[Column, ...]
    quality: tuple[QualityRule, ...]

    @property
    def primary_key(self) -> tuple[str, ...]:
        """The primary key's columns, in their declared positions."""
        keys = sorted(
            (c for c in self.columns if c.primary_key), key=lambda c: c.primary_key_position
        )
        return tuple(c.name for c in keys)

    @property
    def unique_columns(self) -> tuple[str, ...]:
        """The columns whose non-null values the contract promises unique: those marked
        `unique`, and a primary key of one column. The port's audit tests each."""
        key = self.primary_key
        return tuple(c.name for c in self.columns if c.unique or key == (c.name,))

    def column(self, name: str) -> Column | None:
        """The column called `name`, or None."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Contract:
    """The parts of the contract the product acts on, read from a validated ODCS document."""

    path: Path
    id: str
    name: str
    version: str
    domain: str
    owner_team: str
    owner_email: str
    freshness_hours: float
    #: The folder of the published files as the `published` server's path names it:
    #: relative to the contract's folder (the product's root), or absolute.
    published_folder: str
    ports: tuple[Port, ...]
    document: OpenDataContractStandard
    #: What the contract still writes as before 1.0.0 and ODCS tools cannot read; the
    #: product reads it all the same, and `contract check` reports it.
    legacy_layout: tuple[str, ...] = ()

    @property
    def major(self) -> int:
        """The major version: consumers pin it, and only it may break them."""
        return int(self.version.split(".")[0])

    def port(self, name: str) -> Port:
        """The port called `name`; a ContractError names the ports that exist otherwise."""
        for port in self.ports:
            if port.name == name:
                return port
        known = ", ".join(p.name for p in self.ports) or "none"
        raise ContractError(f"{self.path}: no output port named {name!r} (ports: {known})")

    def declared_published_dir(self, contract_dir: Path | None = None) -> Path:
        """The folder the `published` server names, from `contract_dir` (by default the
        contract's folder), whatever $PUBLISH_DIR says."""
        return ((contract_dir or self.path.parent) / self.published_folder).resolve()

    def published_dir(self) -> Path:
        """Where the ports are published: $PUBLISH_DIR, else the `published` server's folder."""
        override = os.environ.get(PUBLISH_DIR_ENV)
        if override is not None:
            path = Path(override)
            if not path.is_absolute():
                raise ValueError(f"{PUBLISH_DIR_ENV} must be an absolute path, got {override!r}")
            return path
        return self.declared_published_dir()

    def published_file(self, port: Port) -> Path:
        """The Parquet file consumers read for `port`."""
        return self.published_dir() / published_file_name(port.name)


def published_file_name(port_name: str) -> str:
    """The name of a port's file in the published folder: `<port>.parquet`."""
    return PUBLISHED_FILE.replace(PORT_PLACEHOLDER, port_name)


def _field(path) -> str:
    """`schema[0].properties[2].logicalType` from a JSON-schema or pydantic error path."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@functools.cache
def _odcs_json_schema() -> dict:
    """The ODCS JSON schema that ships with the open-data-contract-standard package."""
    return json.loads(resources.files(odcs).joinpath("schema.json").read_text())


def _schema_errors(data: Any) -> list[str]:
    schema = _odcs_json_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    messages = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf/anyOf errors are vague at the top; their most specific cause is what helps.
        best = jsonschema.exceptions.best_match([error])
        messages.append(f"{_field(best.absolute_path)}: {best.message}")
    return list(dict.fromkeys(messages))


def _fail(path: Path, problems: list[str]) -> ContractError:
    listed = "\n".join(f"  - {problem}" for problem in problems[:20])
    return ContractError(f"{path} is not a valid data contract:\n{listed}")


def _quality(rules, column: str | None, where: str, problems: list[str]) -> list[QualityRule]:
    operators = (
        "mustBe",
        "mustNotBe",
        "mustBeGreaterThan",
        "mustBeGreaterOrEqualTo",
        "mustBeLessThan",
        "mustBeLessOrEqualTo",
        "mustBeBetween",
        "mustNotBeBetween",
    )
    parsed = []
    for index, rule in enumerate(rules or []):
        field = f"{where}.quality[{index}]"
        kind = rule.type or "library"
        if kind not in ("library", "sql"):
            continue  # text and custom rules are for people and other tools
        chosen = [op for op in operators if getattr(rule, op) is not None]
        if len(chosen) != 1:
            problems.append(f"{field}: needs exactly one of {', '.join(operators)}")
            continue
        metric = rule.metric or rule.rule
        if kind == "library" and metric is None:
            problems.append(f"{field}: a library rule needs a metric")
            continue
        if kind == "sql" and not rule.query:
            problems.append(f"{field}: a sql rule needs a query")
            continue
        if (
            metric in ("nullValues", "missingValues", "invalidValues", "duplicateValues")
            and not column
        ):
            problems.append(
                f"{field}: metric {metric} applies to a property, not to a schema object"
            )
            continue
        name = rule.name or "_".join(filter(None, [column, metric or "sql", str(index)]))
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            problems.append(f"{field}.name: {name!r} must contain only letters, digits and _")
            continue
        parsed.append(
            QualityRule(
                name=name,
                kind=kind,
                metric=metric,
                query=rule.query,
                arguments=dict(rule.arguments or {}),
                operator=chosen[0],
                threshold=getattr(rule, chosen[0]),
                column=column,
                description=rule.description or "",
            )
        )
    return parsed


def _custom_property(obj, name: str) -> Any:
    """The value of the custom property `name` of an ODCS object, or None."""
    for entry in obj.customProperties or []:
        if entry.property == name:
            return entry.value
    return None


def _dbt_model(where: str, obj, problems: list[str], legacy: list[str]) -> str | None:
    """The dbt model behind a port: its `dbtModel` custom property. A contract written
    before 1.0.0 names it in physicalName, which ODCS tools take for the name of the data."""
    model = _custom_property(obj, DBT_MODEL_PROPERTY)
    if model is not None:
        if not isinstance(model, str) or not model:
            problems.append(
                f"{where}.customProperties.{DBT_MODEL_PROPERTY}: the name of the dbt model "
                "behind the port, as a string"
            )
            return None
        if obj.physicalName and obj.physicalName != obj.name:
            problems.append(
                f"{where}.physicalName: {obj.physicalName!r} is not the port's name, under "
                "which the port is published and ODCS tools read it: leave physicalName out "
                f"(customProperties {DBT_MODEL_PROPERTY} names the dbt model)"
            )
        return model
    if obj.physicalName:
        if obj.physicalName != obj.name:
            legacy.append(
                f"{where}.physicalName: {obj.physicalName!r} names the dbt model, but ODCS "
                f"tools read the port's data by that name: name the model in customProperties "
                f"(`- property: {DBT_MODEL_PROPERTY}` and `value: {obj.physicalName}`) and "
                "leave physicalName out"
            )
        return obj.physicalName
    problems.append(
        f"{where}.customProperties: name the dbt model behind the port "
        f"(`- property: {DBT_MODEL_PROPERTY}` and `value: <model>`)"
    )
    return None


def _references(prop, where: str, problems: list[str]) -> tuple:
    """The property-level ODCS relationships: `to: <port>.<property>` of this contract."""
    found = []
    for index, relationship in enumerate(prop.relationships or []):
        field = f"{where}.relationships[{index}]"
        target = relationship.to
        if not isinstance(target, str) or not re.fullmatch(r"[a-z][a-z0-9_]*\.\w+", target):
            problems.append(
                f"{field}.to: {target!r} must name one property of a port of this contract, "
                "as <port>.<property>"
            )
            continue
        if relationship.id is not None and not re.fullmatch(r"[A-Za-z0-9_]+", relationship.id):
            problems.append(f"{field}.id: {relationship.id!r} must contain only letters, digits and _")
            continue
        port, column = target.split(".")
        found.append((port, column, relationship.id))
    return tuple(found)


def _port(index: int, obj, problems: list[str], legacy: list[str]) -> Port | None:
    where = f"schema[{index}]"
    before = len(problems)
    if not obj.name or not re.fullmatch(r"[a-z][a-z0-9_]*", obj.name):
        problems.append(f"{where}.name: an output port needs a lowercase identifier as its name")
    model = _dbt_model(where, obj, problems, legacy)
    columns = []
    quality = _quality(obj.quality, None, where, problems)
    for position, prop in enumerate(obj.properties or []):
        field = f"{where}.properties[{position}]"
        for attribute in ("name", "logicalType", "physicalType"):
            if not getattr(prop, attribute):
                problems.append(f"{field}.{attribute}: is required by this product")
        if not (prop.name and prop.logicalType and prop.physicalType):
            continue
        columns.append(
            Column(
                name=prop.name,
                logical_type=prop.logicalType,
                physical_type=prop.physicalType,
                required=bool(prop.required),
                unique=bool(prop.unique),
                primary_key=bool(prop.primaryKey),
                primary_key_position=prop.primaryKeyPosition or 1,
                description=prop.description or "",
                references=_references(prop, field, problems),
            )
        )
        quality += _quality(prop.quality, prop.name, field, problems)
    if not columns:
        problems.append(f"{where}.properties: an output port needs at least one property")
    names = [rule.name for rule in quality]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: quality rule name {duplicate!r} is used twice")
    if len(problems) > before:
        return None
    return Port(
        name=obj.name,
        model=model,
        description=obj.description or obj.businessName or obj.name,
        columns=tuple(columns),
        quality=tuple(quality),
    )


def _published_folder(path: str, problems: list[str], legacy: list[str]) -> str:
    """The folder of the published files, from the `published` server's path.

    The path names one file per port, `<folder>/{model}.parquet`, as ODCS tools read it.
    A contract written before 1.0.0 names the folder alone, which those tools cannot read.
    """
    field = f"servers.{PUBLISHED_SERVER}.path"
    example = f"data/published/{PUBLISHED_FILE}"
    if not path:
        problems.append(f"{field}: name the published files, e.g. {example}")
        return ""
    if PORT_PLACEHOLDER not in path and not path.endswith(".parquet"):
        legacy.append(
            f"{field}: {path!r} names the folder, but ODCS tools read each port at the path "
            f"with {PORT_PLACEHOLDER} replaced by the port's name: write "
            f"{path.rstrip('/')}/{PUBLISHED_FILE}"
        )
        return path
    folder, _, file = path.rpartition("/")
    if file != PUBLISHED_FILE or PORT_PLACEHOLDER in folder:
        problems.append(
            f"{field}: {path!r} must name one file per port in one folder, "
            f"<folder>/{PUBLISHED_FILE}, e.g. {example}"
        )
        return ""
    return folder or "."


def load_contract(path: Path | str, *, schema: bool = True) -> Contract:
    """Read and validate the contract at `path`.

    Raises ContractError with every problem found: YAML syntax, the ODCS v3 JSON schema,
    the ODCS model, and the rules this product adds (semver version, a freshness SLA,
    a `published` Parquet server, and a dbt model and typed properties on every port).

    `schema=False` skips the JSON schema, by far the slowest step, and keeps the typed ODCS
    model and the product's rules: for a reader of many contracts that their products'
    own checks validate, such as the registry.
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=YAML_LOADER)
    except FileNotFoundError:
        raise ContractError(f"{path}: the data contract file does not exist") from None
    except yaml.YAMLError as error:
        raise ContractError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ContractError(
            f"{path}: a data contract is a YAML mapping, found {type(data).__name__}"
        )

    problems = _schema_errors(data) if schema else []
    if problems:
        raise _fail(path, problems)
    try:
        document = OpenDataContractStandard.model_validate(data)
    except pydantic.ValidationError as error:
        raise _fail(path, [f"{_field(e['loc'])}: {e['msg']}" for e in error.errors()]) from None

    if not SEMVER.match(document.version or ""):
        problems.append(f"version: {document.version!r} is not a semantic version such as 1.2.0")
    for attribute in ("name", "domain"):
        if not getattr(document, attribute):
            problems.append(f"{attribute}: is required by this product")

    freshness = [p for p in document.slaProperties or [] if p.property == "freshness"]
    freshness_hours = 0.0
    if len(freshness) != 1:
        problems.append("slaProperties: needs exactly one entry with property: freshness")
    elif (freshness[0].unit or "").lower() not in FRESHNESS_UNITS_IN_HOURS:
        problems.append(f"slaProperties.freshness.unit: {freshness[0].unit!r} is not h or d")
    elif not isinstance(freshness[0].value, (int, float)) or freshness[0].value <= 0:
        problems.append(
            f"slaProperties.freshness.value: {freshness[0].value!r} is not a positive number"
        )
    else:
        freshness_hours = freshness[0].value * FRESHNESS_UNITS_IN_HOURS[freshness[0].unit.lower()]

    servers = [s for s in document.servers or [] if s.server == PUBLISHED_SERVER]
    legacy: list[str] = []
    published_folder = ""
    if len(servers) != 1:
        problems.append(f"servers: needs exactly one server named {PUBLISHED_SERVER!r}")
    elif servers[0].type != "local" or servers[0].format != "parquet":
        problems.append(f"servers.{PUBLISHED_SERVER}: must be of type local with format parquet")
    else:
        published_folder = _published_folder(servers[0].path or "", problems, legacy)

    ports = [
        _port(index, obj, problems, legacy) for index, obj in enumerate(document.schema_ or [])
    ]
    names = [port.name for port in ports if port]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"schema: output port name {duplicate!r} is used twice")
    if problems:
        raise _fail(path, problems)

    team = document.team
    members = (team.members if hasattr(team, "members") else team) or []
    owner = next((m for m in members if m.role == "owner"), members[0] if members else None)
    return Contract(
        path=path.resolve(),
        id=document.id,
        name=document.name,
        version=document.version,
        domain=document.domain,
        owner_team=getattr(team, "name", None) or "",
        owner_email=(owner.username if owner else "") or "",
        freshness_hours=freshness_hours,
        published_folder=published_folder,
        ports=tuple(port for port in ports if port),
        document=document,
        legacy_layout=tuple(legacy),
    )

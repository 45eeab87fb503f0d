"""The warehouse the product's Python code reads and writes, whichever engine it is.

dbt reaches the engine through its profile; the product's own Python steps (landing raw
data, the contract checks, publishing the output ports) reach it through `connect()`,
which opens the engine of the active dbt target: the local DuckDB file for `dev`, the
`warehouse` answer's engine for `prod`. Every engine offers the same few operations, so
the steps are written once. Each engine's client is imported only when that engine is
opened, and comes with the package's extra of the engine's name (`dagster-data-product[spark]`).
This module does not import Dagster.
"""

import json
import logging
import os
import re
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from .profile import profile
from .settings import Product

#: Schema holding the published output ports on engines that publish tables.
PUBLISHED_SCHEMA = "published"

#: The key, in a DuckDB port's Parquet key-value metadata, of the port's column profile (JSON).
PROFILE_KEY = "dagster_data_product.profile"

#: For each engine that publishes tables: the type of its ODCS server and the server's
#: field naming the schema the ports are published in.
PRODUCTION_SERVERS = {
    "spark": ("hive", "database"),
    "trino": ("trino", "schema"),
    "snowflake": ("snowflake", "schema"),
    "bigquery": ("bigquery", "dataset"),
}


def production_problems(document: Any, engine: str) -> list[str]:
    """How the contract's production servers disagree with where the product publishes.

    A server of the contract other than `published` that is named `production` or has
    `environment: prod` tells ODCS tools where the prod target's ports are: its type must be
    the engine's, and it must name the schema the product publishes its tables in. On
    BigQuery the dataset's case counts; the other engines fold names. A DuckDB product
    publishes files only: its production servers are not the product's to judge.
    """
    if engine not in PRODUCTION_SERVERS:
        return []
    kind, field = PRODUCTION_SERVERS[engine]
    problems = []
    for server in document.servers or []:
        if server.server == "published" or not (
            server.server == "production" or server.environment == "prod"
        ):
            continue
        where = f"servers.{server.server}"
        if server.type != kind:
            problems.append(
                f"{where}.type: {server.type!r}, but the prod target runs on {engine} "
                f"(`warehouse` in the DataProduct's defs.yaml): a {engine} product's ports are "
                f"described by a server of type {kind!r}"
            )
            continue
        value = getattr(server, "schema_" if field == "schema" else field) or ""
        same = value == PUBLISHED_SCHEMA if engine == "bigquery" else (
            value.lower() == PUBLISHED_SCHEMA
        )
        if not same:
            expected = PUBLISHED_SCHEMA.upper() if engine == "snowflake" else PUBLISHED_SCHEMA
            stated = f"{where}.{field}: {value!r}" if value else f"{where}: no {field}"
            problems.append(
                f"{stated}, but the product publishes its "
                f"ports as tables in {field} {expected}: write `{field}: {expected}`, or ODCS "
                "tools look for the ports where they are not"
            )
    return problems


class Warehouse(Protocol):
    """What the product's Python steps need from an engine."""

    engine: str

    def quote(self, identifier: str) -> str:
        """`identifier` quoted for this engine's SQL."""

    def rows(self, sql: str) -> list[tuple]:
        """Every row `sql` returns, as tuples."""

    def scalar(self, sql: str) -> Any:
        """The single value `sql` returns."""

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(name, type) of every column of `schema.table` in order; empty if it does not exist."""

    def replace_table(self, schema: str, table: str, data: pa.Table) -> int:
        """Replace `schema.table` with `data` in one step; return the row count."""

    def stage(
        self, schema: str, table: str, port: str, parquet_file: Path, run: str,
        unique: Collection[str] = (),
    ) -> "Staged":
        """Copy `schema.table` as it is now into a snapshot owned by `run`, for publishing.

        Every other snapshot of the port is removed first: the leftovers of a run that died,
        and a snapshot another run has not published yet (that run then takes and audits
        its own again before it publishes). An engine that profiles the port while it
        copies it (DuckDB) counts no distinct values of the `unique` columns, which the
        port's audit has proved unique.
        """

    def staged_profile(self, staged: "Staged", unique: Collection[str] = ()) -> dict[str, float]:
        """The snapshot's column profile (profile.py): the one taken while staging, or one
        computed now."""

    def staged(self, port: str, parquet_file: Path, run: str) -> "Staged | None":
        """The snapshot `run` staged for `port`, if it is still there."""

    def staged_columns(self, staged: "Staged") -> list[tuple[str, str]]:
        """(name, type) of every column of a snapshot, in order."""

    def promote(self, staged: "Staged") -> str:
        """Publish the audited snapshot as the port, atomically; return where it went."""

    def discard(self, staged: "Staged") -> None:
        """Remove a snapshot that failed its audit."""


class Staged:
    """A run's snapshot of a port: what the contract checks audit and publishing publishes.

    `relation` is the snapshot as SQL the checks can read; `location` is where it lives (a
    file on DuckDB, a table elsewhere); `schema` and `table` name it for `columns()`.
    """

    def __init__(self, port: str, relation: str, location: Any, target: Any, schema: str = "",
                 table: str = ""):
        self.port = port
        self.relation = relation
        self.location = location
        self.target = target
        self.schema = schema
        self.table = table


def run_token(run: str) -> str:
    """A run id as it may appear in a file or table name."""
    return "".join(ch for ch in run.lower() if ch.isalnum())[:16] or "run"


def sql_string(text: str) -> str:
    """`text` as a quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable: the directory's entry, not only the file."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


#: Engines that quote identifiers with backticks; the others use double quotes.
_BACKTICK_ENGINES = {"spark", "bigquery"}


class _Engine:
    """What every engine shares: quoting identifiers in its own way, and profiling a
    snapshot with one query.

    On Snowflake a name is quoted as the engine stores it unquoted, in upper case: dbt
    creates the models' tables and columns unquoted (dbt-snowflake's default), and the
    contract's `production` server names the schema PUBLISHED, so the product's own SQL
    reaches the very tables dbt built and ODCS tools read.
    """

    engine: str

    def quote(self, identifier: str) -> str:
        if self.engine == "snowflake":
            identifier = identifier.upper()
        mark = "`" if self.engine in _BACKTICK_ENGINES else '"'
        # BigQuery escapes its quote character with a backslash, the others by doubling it.
        escaped = ("\\" if self.engine == "bigquery" else mark) + mark
        return mark + identifier.replace(mark, escaped) + mark

    def staged_profile(self, staged: Staged, unique: Collection[str] = ()) -> dict[str, float]:
        return profile(self, staged.relation, self.staged_columns(staged), unique=unique)


def relation(warehouse: Warehouse, schema: str, table: str) -> str:
    return f"{warehouse.quote(schema)}.{warehouse.quote(table)}"


class DuckDBWarehouse(_Engine):
    """The embedded DuckDB file: development, and production on one machine."""

    engine = "duckdb"

    def __init__(self, conn: Any):
        self.conn = conn

    def rows(self, sql: str) -> list[tuple]:
        return self.conn.execute(sql).fetchall()

    def scalar(self, sql: str) -> Any:
        return self.conn.execute(sql).fetchone()[0]

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        return self.conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()

    def replace_table(self, schema: str, table: str, data: pa.Table) -> int:
        self.conn.execute(f"create schema if not exists {self.quote(schema)}")
        self.conn.register("_landing", data)
        try:
            # One statement: a failed load leaves the previous table as it was.
            self.conn.execute(
                f"create or replace table {relation(self, schema, table)} as select * from _landing"
            )
        finally:
            self.conn.unregister("_landing")
        return data.num_rows

    def _snapshot(self, port: str, parquet_file: Path, run: str) -> Path:
        return parquet_file.with_name(f".{parquet_file.name}.{run_token(run)}.audit")

    def _staged_at(self, port: str, path: Path, parquet_file: Path) -> Staged:
        return Staged(port, f"read_parquet({sql_string(str(path))})", path, parquet_file)

    def staged_columns(self, staged: Staged) -> list[tuple[str, str]]:
        return [
            (row[0], row[1])
            for row in self.conn.execute(f"describe select * from {staged.relation}").fetchall()
        ]

    def stage(
        self, schema: str, table: str, port: str, parquet_file: Path, run: str,
        unique: Collection[str] = (), profiled: bool = True,
    ) -> Staged:
        """Write the port's rows, as they are now, to a hidden Parquet file of this run.

        The port is profiled first, on the table, in the transaction that copies it, so
        the profile counts exactly the copied rows; reading the table is cheaper than
        reading the Parquet file back. The profile travels in the file's key-value
        metadata (`PROFILE_KEY`), to the publishing step and with the published port.
        `profiled=False` leaves it out (the benchmark's baseline). The file is flushed to
        disk and counted again against the table as the copy saw it.
        """
        parquet_file.parent.mkdir(parents=True, exist_ok=True)
        snapshot = self._snapshot(port, parquet_file, run)
        for leftover in parquet_file.parent.glob(f".{parquet_file.name}.*"):
            if leftover != snapshot:
                leftover.unlink(missing_ok=True)
        source = relation(self, schema, table)
        options = "format parquet"
        # One transaction: the profile, the copy and its row count see one version of the
        # table, whatever else writes to it meanwhile.
        self.conn.execute("begin transaction")
        try:
            if profiled:
                values = profile(self, source, self.columns(schema, table), unique=unique)
                metadata = f"{{{sql_string(PROFILE_KEY)}: {sql_string(json.dumps(values))}}}"
                options += f", kv_metadata {metadata}"
            self.conn.execute(
                f"copy (select * from {source}) to {sql_string(str(snapshot))} ({options})"
            )
            expected = self.scalar(f"select count(*) from {source}")
        except BaseException:
            self.conn.execute("rollback")
            raise
        self.conn.execute("commit")
        with open(snapshot, "rb") as written:
            os.fsync(written.fileno())
        staged = self._staged_at(port, snapshot, parquet_file)
        copied = self.scalar(f"select count(*) from {staged.relation}")
        if copied != expected:
            snapshot.unlink(missing_ok=True)
            raise RuntimeError(f"{snapshot} holds {copied} rows, {source} has {expected}")
        return staged

    def staged(self, port: str, parquet_file: Path, run: str) -> Staged | None:
        snapshot = self._snapshot(port, parquet_file, run)
        return self._staged_at(port, snapshot, parquet_file) if snapshot.exists() else None

    def staged_profile(self, staged: Staged, unique: Collection[str] = ()) -> dict[str, float]:
        """The profile staging wrote into the snapshot's footer; computed from the snapshot
        when there is none (staged with `profiled=False`, or by an earlier version)."""
        recorded = self.conn.execute(
            "select decode(value) from parquet_kv_metadata(?) where decode(key) = ?",
            [str(staged.location), PROFILE_KEY],
        ).fetchall()
        if recorded:
            return json.loads(recorded[0][0])
        return super().staged_profile(staged, unique)

    def promote(self, staged: Staged) -> str:
        """Replace the published file by the audited snapshot with one rename, made durable:
        a reader sees the old version or the new one, never a mix."""
        os.replace(staged.location, staged.target)
        _fsync_dir(staged.target.parent)
        return str(staged.target)

    def discard(self, staged: Staged) -> None:
        Path(staged.location).unlink(missing_ok=True)


def spark_session(product: Product) -> Any:
    """The process's Spark session, configured like the dbt profile's `prod` target.

    dbt's `session` method asks for the active session, so when this one exists first,
    dbt, the ingestion and the contract checks share it and its metastore.
    """
    from pyspark.sql import SparkSession

    paths = product.spark_paths()
    metastore = paths["SPARK_METASTORE_DIR"]
    return (
        SparkSession.builder.appName(product.slug)
        .master(os.environ.get("SPARK_MASTER", "local[2]"))
        .config("spark.sql.warehouse.dir", str(paths["SPARK_WAREHOUSE_DIR"]))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={metastore}")
        # A product's tables are small next to Spark's defaults for a cluster.
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"))
        .config("spark.ui.enabled", "false")
        .enableHiveSupport()
        .getOrCreate()
    )


class SparkWarehouse(_Engine):
    """Apache Spark: tables in its warehouse, Parquet files behind each."""

    engine = "spark"

    def __init__(self, session: Any):
        self.session = session

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.session.sql(sql).collect()]

    def scalar(self, sql: str) -> Any:
        return self.session.sql(sql).collect()[0][0]

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        if not self.session.catalog.tableExists(table, schema):
            return []
        return list(self.session.table(relation(self, schema, table)).dtypes)

    def replace_table(self, schema: str, table: str, data: pa.Table) -> int:
        self.session.sql(f"create database if not exists {self.quote(schema)}")
        frame = self.session.createDataFrame(data.to_pandas(), schema=_spark_schema(data.schema))
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{table}")
        return data.num_rows

    def _staging_name(self, port: str, run: str) -> str:
        return f"_{port}__{run_token(run)}"

    def _staged_table(self, port: str, name: str) -> Staged:
        return Staged(
            port,
            relation(self, PUBLISHED_SCHEMA, name),
            name,
            port,
            PUBLISHED_SCHEMA,
            name,
        )

    def staged_columns(self, staged: Staged) -> list[tuple[str, str]]:
        return self.columns(staged.schema, staged.table)

    def stage(
        self, schema: str, table: str, port: str, parquet_file: Path, run: str,
        unique: Collection[str] = (),
    ) -> Staged:
        """Copy the port's table into a staging table `published._<port>__<run>`."""
        name = self._staging_name(port, run)
        self.session.sql(f"create database if not exists {self.quote(PUBLISHED_SCHEMA)}")
        for row in self.session.sql(f"show tables in {self.quote(PUBLISHED_SCHEMA)}").collect():
            if row.tableName.startswith(f"_{port}__") and row.tableName != name:
                self.session.sql(f"drop table if exists {relation(self, PUBLISHED_SCHEMA, row.tableName)}")
        staged = self._staged_table(port, name)
        source = relation(self, schema, table)
        self.session.sql(f"drop table if exists {staged.relation}")
        self.session.sql(f"create table {staged.relation} using parquet as select * from {source}")
        copied = self.scalar(f"select count(*) from {staged.relation}")
        expected = self.scalar(f"select count(*) from {source}")
        if copied != expected:
            self.discard(staged)
            raise RuntimeError(f"{staged.relation} holds {copied} rows, {source} has {expected}")
        return staged

    def staged(self, port: str, parquet_file: Path, run: str) -> Staged | None:
        name = self._staging_name(port, run)
        if not self.session.catalog.tableExists(name, PUBLISHED_SCHEMA):
            return None
        return self._staged_table(port, name)

    def promote(self, staged: Staged) -> str:
        """Drop the port's previous table and rename the audited staging table to it."""
        target = relation(self, PUBLISHED_SCHEMA, staged.port)
        self.session.sql(f"drop table if exists {target}")
        self.session.sql(f"alter table {staged.relation} rename to {target}")
        return f"{PUBLISHED_SCHEMA}.{staged.port}"

    def discard(self, staged: Staged) -> None:
        self.session.sql(f"drop table if exists {staged.relation}")


def _spark_schema(schema: pa.Schema) -> Any:
    """The Spark schema of an Arrow schema, for the types the product lands."""
    from pyspark.sql import types as T

    def convert(kind: pa.DataType) -> Any:
        if pa.types.is_int64(kind):
            return T.LongType()
        if pa.types.is_integer(kind):
            return T.IntegerType()
        if pa.types.is_floating(kind):
            return T.DoubleType()
        if pa.types.is_decimal(kind):
            return T.DecimalType(kind.precision, kind.scale)
        if pa.types.is_boolean(kind):
            return T.BooleanType()
        if pa.types.is_date(kind):
            return T.DateType()
        if pa.types.is_timestamp(kind):
            return T.TimestampNTZType() if kind.tz is None else T.TimestampType()
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return T.StringType()
        raise TypeError(f"no Spark type for Arrow type {kind}")

    return T.StructType([T.StructField(f.name, convert(f.type), f.nullable) for f in schema])


class DbApiWarehouse(_Engine):
    """An engine reached through its DB-API client: Trino, Snowflake or BigQuery.

    Output ports are published as tables `published.<port>`, replaced in one statement.
    """

    def __init__(self, engine: str, conn: Any):
        self.engine = engine
        self.conn = conn

    def _execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, parameters) if parameters is not None else cursor.execute(sql)
        return cursor

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self._execute(sql).fetchall()]

    def scalar(self, sql: str) -> Any:
        return self._execute(sql).fetchone()[0]

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        if self.engine == "bigquery":
            query = (
                f"select column_name, data_type from {self.quote(schema)}.INFORMATION_SCHEMA.COLUMNS"
                f" where table_name = '{table}' order by ordinal_position"
            )
        else:
            folded = schema.upper() if self.engine == "snowflake" else schema
            name = table.upper() if self.engine == "snowflake" else table
            query = (
                "select column_name, data_type from information_schema.columns"
                f" where table_schema = '{folded}' and table_name = '{name}'"
                " order by ordinal_position"
            )
        return [(name.lower(), kind) for name, kind in self._execute(query).fetchall()]

    def _type(self, kind: pa.DataType) -> str:
        bigquery = self.engine == "bigquery"
        if pa.types.is_int64(kind):
            return "INT64" if bigquery else "BIGINT"
        if pa.types.is_integer(kind):
            return "INT64" if bigquery else "INTEGER"
        if pa.types.is_floating(kind):
            return {"bigquery": "FLOAT64", "snowflake": "FLOAT"}.get(self.engine, "DOUBLE")
        if pa.types.is_decimal(kind):
            return f"{'NUMERIC' if bigquery else 'DECIMAL'}({kind.precision}, {kind.scale})"
        if pa.types.is_boolean(kind):
            return "BOOL" if bigquery else "BOOLEAN"
        if pa.types.is_date(kind):
            return "DATE"
        if pa.types.is_timestamp(kind):
            return {"bigquery": "DATETIME", "snowflake": "TIMESTAMP_NTZ"}.get(
                self.engine, "TIMESTAMP(6)"
            )
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return "STRING" if bigquery else "VARCHAR"
        raise TypeError(f"no {self.engine} type for Arrow type {kind}")

    def replace_table(self, schema: str, table: str, data: pa.Table) -> int:
        target = relation(self, schema, table)
        columns = ", ".join(f"{self.quote(f.name)} {self._type(f.type)}" for f in data.schema)
        marker = "?" if self.engine == "trino" else "%s"
        self._execute(f"create schema if not exists {self.quote(schema)}")
        self._execute(f"create or replace table {target} ({columns})")
        self.conn.cursor().executemany(
            f"insert into {target} values ({', '.join(marker for _ in data.schema)})",
            [tuple(row.values()) for row in data.to_pylist()],
        )
        return data.num_rows

    def _staged_table(self, port: str, run: str) -> Staged:
        name = f"_{port}__{run_token(run)}"
        return Staged(port, relation(self, PUBLISHED_SCHEMA, name), name, port, PUBLISHED_SCHEMA, name)

    def staged_columns(self, staged: Staged) -> list[tuple[str, str]]:
        return self.columns(staged.schema, staged.table)

    def stage(
        self, schema: str, table: str, port: str, parquet_file: Path, run: str,
        unique: Collection[str] = (),
    ) -> Staged:
        """Copy the port's table into a staging table `published._<port>__<run>`.

        Staging tables of other runs are left to the engine's own housekeeping: listing
        tables differs between Trino, Snowflake and BigQuery.
        """
        staged = self._staged_table(port, run)
        self._execute(f"create schema if not exists {self.quote(PUBLISHED_SCHEMA)}")
        self._execute(
            f"create or replace table {staged.relation} as select * from {relation(self, schema, table)}"
        )
        return staged

    def staged(self, port: str, parquet_file: Path, run: str) -> Staged | None:
        staged = self._staged_table(port, run)
        return staged if self.columns(staged.schema, staged.table) else None

    def promote(self, staged: Staged) -> str:
        self._execute(
            f"create or replace table {relation(self, PUBLISHED_SCHEMA, staged.port)}"
            f" as select * from {staged.relation}"
        )
        self.discard(staged)
        return f"{PUBLISHED_SCHEMA}.{staged.port}"

    def discard(self, staged: Staged) -> None:
        self._execute(f"drop table if exists {staged.relation}")


def _dbapi_connection(engine: str) -> Any:
    """A DB-API connection to `engine`, from the same variables the dbt profile reads."""
    env = os.environ
    if engine == "trino":
        import trino

        return trino.dbapi.connect(
            host=env["TRINO_HOST"],
            port=int(env.get("TRINO_PORT", "443")),
            user=env["TRINO_USER"],
            catalog=env["TRINO_CATALOG"],
            http_scheme="https",
            auth=trino.auth.BasicAuthentication(env["TRINO_USER"], env["TRINO_PASSWORD"]),
        )
    if engine == "snowflake":
        import snowflake.connector

        return snowflake.connector.connect(
            account=env["SNOWFLAKE_ACCOUNT"],
            user=env["SNOWFLAKE_USER"],
            password=env["SNOWFLAKE_PASSWORD"],
            role=env["SNOWFLAKE_ROLE"],
            database=env["SNOWFLAKE_DATABASE"],
            warehouse=env["SNOWFLAKE_WAREHOUSE"],
        )
    if engine == "bigquery":
        from google.cloud import bigquery
        from google.cloud.bigquery import dbapi

        client = bigquery.Client.from_service_account_json(
            env["GOOGLE_APPLICATION_CREDENTIALS"], project=env["BIGQUERY_PROJECT"]
        )
        return dbapi.connect(client)
    raise ValueError(f"no DB-API client for engine {engine!r}")


#: Seconds a step waits for the DuckDB file while another process has it open.
DUCKDB_LOCK_TIMEOUT = "DUCKDB_LOCK_TIMEOUT"
DEFAULT_DUCKDB_LOCK_TIMEOUT_S = 600.0


def _lock_timeout() -> float:
    value = os.environ.get(DUCKDB_LOCK_TIMEOUT, "")
    try:
        return float(value) if value else DEFAULT_DUCKDB_LOCK_TIMEOUT_S
    except ValueError:
        raise ValueError(
            f"{DUCKDB_LOCK_TIMEOUT} is {value!r}: it must be a number of seconds"
        ) from None


def open_duckdb(path: Path) -> Any:
    """A connection to the DuckDB file at `path`, waiting while another process holds it.

    A DuckDB file admits one writing process at a time. The product's steps that open it
    share a Dagster pool of one slot, but the pool is not the only way in: Dagster's SQLite
    storage can hand one slot to two runs that claim it at the same moment (a fresh
    instance, several runs launched together), and a notebook or the duckdb CLI can have the
    file open. Rather than fail, the step waits for the file, for up to
    DUCKDB_LOCK_TIMEOUT seconds (600 by default), and then fails naming the holder.
    """
    import duckdb

    timeout = _lock_timeout()
    deadline = time.monotonic() + timeout
    pause = 0.1
    waiting = False
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if "could not set lock" not in str(error).lower():
                raise
            holder = re.search(r"\(PID (\d+)\)", str(error))
            who = f"process {holder.group(1)}" if holder else "another process"
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"The DuckDB file {path} is still open in {who} after {timeout:g} s"
                    f" ({DUCKDB_LOCK_TIMEOUT}). Close it there (a notebook, the duckdb CLI),"
                    f" or raise {DUCKDB_LOCK_TIMEOUT}."
                ) from error
            if not waiting:
                logging.getLogger(__name__).warning(
                    "The DuckDB file %s is open in %s; waiting up to %g s for it.",
                    path, who, timeout,
                )
                waiting = True
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 2.0)


@contextmanager
def connect(product: Product, engine: str | None = None) -> Iterator[Warehouse]:
    """Open the product's warehouse on the active dbt target's engine (or `engine`)."""
    engine = engine or product.active_engine()
    if engine == "duckdb":
        path = product.duckdb_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = open_duckdb(path)
        try:
            yield DuckDBWarehouse(conn)
        finally:
            conn.close()
    elif engine == "spark":
        # The session lives as long as the process: dbt and later steps reuse it.
        yield SparkWarehouse(spark_session(product))
    else:
        try:
            conn = _dbapi_connection(engine)
        except KeyError as missing:
            raise RuntimeError(
                f"{engine} needs the environment variable {missing.args[0]} (see deploy/README.md)"
            ) from None
        try:
            yield DbApiWarehouse(engine, conn)
        finally:
            conn.close()

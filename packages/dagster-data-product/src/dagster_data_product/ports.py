"""Per output port of the contract: the asset that publishes it.

The port's checks are the dbt tests generated from the contract (contract/dbt.py), which
dagster-dbt runs in the dbt step as blocking asset checks: when one fails, nothing
downstream of the step runs, so the port is not published and the previously published
version stays as it was. Publishing runs on the engine of the active dbt target.
"""

from collections.abc import Callable, Mapping
from datetime import timedelta

import dagster as dg

from .automation import refresh_condition
from .contract import ContractError, Port
from .contract.dbt import check_names, dbt_disagreements
from .dbt.manifest import load_manifest, model_relation
from .dbt.process import test_statuses
from .lineage import Data, identity_lineage_facet, lineage_of, schema_facet, step_runs
from .lineage import disabled as lineage_disabled
from .profile import ROW_COUNT
from .resources import WarehouseResource
from .settings import Product
from .warehouse import connect, spark_session

PUBLISHED = "published"


def port_key(product: Product, port: Port) -> dg.AssetKey:
    """The key of the dbt model behind the port (as the dbt component names it)."""
    return dg.AssetKey([product.domain, port.model])


def published_key(domain: str, port_name: str) -> dg.AssetKey:
    """The key of a published port: the stable name consumers depend on."""
    return dg.AssetKey([domain, PUBLISHED, port_name])


def _contract_schema(port: Port):
    return schema_facet((c.name, c.physical_type, c.description) for c in port.columns)


def model_data(product: Product, port: Port, results=None) -> Data:
    """The dataset of the dbt model behind `port`, with the contract's columns and, after the
    contract checks, their outcome as data-quality assertions."""
    data = Data(tuple(port_key(product, port).path))
    if lineage_disabled():
        return data
    data.facets["schema"] = _contract_schema(port)
    if results is not None:
        from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

        data.input_facets["dataQualityAssertions"] = dq.DataQualityAssertionsDatasetFacet(
            assertions=[
                dq.Assertion(assertion=name, success=bool(passed), severity="error")
                for name, passed in results
            ]
        )
    return data


def port_data(product: Product, port: Port, location: str | None = None) -> Data:
    """The dataset of a published port: the contract's columns, each copied unchanged from
    the port's model, and where it was written (a Parquet file or a table) as a symlink."""
    if lineage_disabled():
        return Data(tuple(published_key(product.domain, port.name).path))
    model = model_data(product, port)
    facets = {
        "schema": _contract_schema(port),
        "columnLineage": identity_lineage_facet(model, [c.name for c in port.columns]),
    }
    if location:
        from openlineage.client.facet_v2 import symlinks_dataset

        is_file = location.startswith("/")
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace="file" if is_file else product.active_engine(),
                    name=location,
                    type="FILE" if is_file else "TABLE",
                )
            ]
        )
    return Data(tuple(published_key(product.domain, port.name).path), facets)


def stage_audited(
    context: dg.AssetExecutionContext,
    product: Product,
    checked: Mapping[dg.AssetKey, Mapping[str, bool]],
    relation: Callable[[str], tuple[str, str]],
) -> None:
    """Snapshot, for this run, each port whose model this dbt step built and whose checks
    all passed in it; `checked` maps a model's key to {check name: passed}, `relation`
    a model's name to its (schema, table).

    It runs in the dbt step, which holds the pool: no other run's dbt step can rebuild the
    model between its tests and the snapshot, so what the run publishes later is what its
    tests audited, whatever other runs do meanwhile. A port whose model was not built and
    tested here is audited by its publishing step instead.
    """
    names = check_names(product.contract, product.warehouse)
    lineage = lineage_of(product)
    audited = []
    for port in product.contract.ports:
        key = port_key(product, port)
        results = checked.get(key)
        if results is None:
            continue
        run = lineage.run(
            key.path, parent=(context.run.job_name, context.run.run_id),
            inputs=[model_data(product, port)], job_type="CHECK", suffix="contract_checks",
            warn=context.log.warning,
        ).start()
        run.complete(inputs=[model_data(product, port, sorted(results.items()))])
        if all(results.get(name) for name in names[port.name]):
            audited.append(port)
    if not audited:
        return
    with connect(product) as wh:
        for port in audited:
            schema, table = relation(port.model)
            wh.stage(schema, table, port.name, product.contract.published_file(port),
                     context.run.run_id, port.unique_columns)


def _audit_with_dbt(context: dg.AssetExecutionContext, product: Product, port: Port) -> None:
    """Run the port's contract tests with dbt on the model as it is; Failure if one fails."""
    names = check_names(product.contract, product.warehouse)[port.name]
    if not names:
        return
    if product.active_engine() == "spark":
        # dbt's `session` method shares the process's Spark session (see warehouse.py).
        spark_session(product)
    statuses = test_statuses(product, port.model)
    failed = [f"{name} ({statuses.get(name, 'not run')})" for name in names
              if statuses.get(name) != "pass"]
    if failed:
        raise dg.Failure(
            f"Not published: dbt's tests of {port.model} fail the contract check(s) "
            f"{', '.join(failed)}."
        )
    context.log.info(f"dbt tested {port.model} against {len(names)} contract check(s): all pass")


def _publisher(product: Product, port: Port, schema: str, table: str) -> dg.AssetsDefinition:
    contract = product.contract
    engine = product.active_engine()
    where = (
        "as one Parquet file"
        if engine == "duckdb"
        else f"as table published.{port.name} on {engine}"
    )

    def publish_snapshot(context: dg.AssetExecutionContext, wh_resource: WarehouseResource):
        """Promote this run's audited snapshot; without one, audit with dbt and stage first."""
        parquet_file = contract.published_file(port)
        with wh_resource.connect() as wh:
            staged = wh.staged(port.name, parquet_file, context.run.run_id)
        if staged is None:
            _audit_with_dbt(context, product, port)
        with wh_resource.connect() as wh:
            if staged is None:
                staged = wh.stage(schema, table, port.name, parquet_file, context.run.run_id,
                                  port.unique_columns)
            profiled = wh.staged_profile(staged, port.unique_columns)
            target = wh.promote(staged)
        rows = profiled[ROW_COUNT]
        context.log.info(f"Published {rows} rows of {port.name} to {target}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(target),
                "contract_version": contract.version,
                **profiled,
            }
        )

    @dg.asset(
        key=published_key(product.domain, port.name),
        deps=[port_key(product, port)],
        description=(
            f"Output port {port.name} of contract {contract.id}: {port.description} Published"
            f" {where}: the snapshot of {port.model} its run audited against every contract"
            " check."
        ),
        owners=product.owners,
        group_name="ports",
        kinds={"parquet"} if engine == "duckdb" else {"parquet", engine},
        automation_condition=refresh_condition(product),
        pool=product.pool,
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=contract.freshness_hours)
        ),
        metadata={"contract_version": contract.version, "contract_id": contract.id},
    )
    def publish(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Publish the snapshot this run audited, atomically, where consumers read it.

        A run that did not build and test the port's model (an earlier run did) has dbt run
        the port's contract tests here, and publishes only if every one passes. The port's
        column profile (profile.py), of exactly the snapshot's rows, is recorded with it:
        on DuckDB staging took it, elsewhere one query on the staged table takes it here.
        """
        key = published_key(product.domain, port.name)
        (run,) = step_runs(
            context, product, {key: port_data(product, port), port_key(product, port):
                               model_data(product, port)},
        ).values()
        try:
            result = publish_snapshot(context, warehouse)
        except Exception as error:
            run.fail(error)
            raise
        run.complete(outputs=[port_data(product, port, str(result.metadata["path"].path))])
        return result

    return publish


def port_definitions(product: Product) -> dg.Definitions:
    """A publishing asset for every port of the contract."""
    contract = product.contract
    if not contract.ports:
        return dg.Definitions()
    disagreements = dbt_disagreements(contract, product.dbt_dir, product.warehouse)
    if disagreements:
        # Refuse to load rather than publish ports that break the contract's promises.
        raise ContractError(
            "The dbt models behind the output ports disagree with the contract:\n"
            + "\n\n".join(disagreements)
        )
    manifest = load_manifest(product)
    assets = []
    for port in contract.ports:
        schema, table = model_relation(manifest, port.model)
        assets.append(_publisher(product, port, schema, table))
    return dg.Definitions(assets=assets)

"""Per output port of the contract: its blocking checks and the asset that publishes it.

The checks run after the port's dbt model is built and are blocking: when one fails,
nothing downstream of the port runs, so the port is not published and the previously
published version stays as it was. Both run on the engine of the active dbt target.
"""

from datetime import timedelta

import dagster as dg

from .automation import refresh_condition
from .contract import ContractError, Port
from .contract.checks import PortCheck, port_checks, schema_differences
from .contract.dbt import dbt_disagreements
from .dbt.manifest import load_manifest, model_relation
from .lineage import Data, identity_lineage_facet, lineage_of, schema_facet, step_runs
from .lineage import disabled as lineage_disabled
from .profile import ROW_COUNT, profile
from .resources import WarehouseResource
from .settings import Product
from .warehouse import Staged, Warehouse

PUBLISHED = "published"


def port_key(product: Product, port: Port) -> dg.AssetKey:
    """The key of the dbt model behind the port (as the dbt component names it)."""
    return dg.AssetKey([product.domain, port.model])


def published_key(domain: str, port_name: str) -> dg.AssetKey:
    """The key of a published port: the stable name consumers depend on."""
    return dg.AssetKey([domain, PUBLISHED, port_name])


def _evaluate(wh: Warehouse, check: PortCheck, port: Port, staged: Staged):
    if check.sql is None:
        found = wh.staged_columns(staged)
        problems = schema_differences(list(port.columns), found, wh.engine)
        return not problems, {"problems": "\n".join(problems) or "none", "engine": wh.engine}
    try:
        observed = wh.scalar(check.sql)
    except Exception as error:  # noqa: BLE001 - any engine's error fails the check, named
        return False, {"error": str(error), "query": check.sql, "engine": wh.engine}
    return check.passes(observed), {
        "observed": observed if isinstance(observed, (int, float)) else str(observed),
        "expected": check.expectation(),
        "query": check.sql,
        "engine": wh.engine,
    }


def audit(wh: Warehouse, port: Port, staged: Staged) -> list[tuple[PortCheck, bool, dict]]:
    """Every check the contract implies for `port`, evaluated on the run's snapshot."""
    checks = port_checks(port, staged.relation, wh.engine)
    return [(check, *_evaluate(wh, check, port, staged)) for check in checks]


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
                dq.Assertion(assertion=check.name, success=bool(passed), severity="error")
                for check, passed, _ in results
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


def _checks_for(
    product: Product, port: Port, schema: str, table: str
) -> dg.AssetChecksDefinition:
    # The check names do not depend on the relation they read; the SQL is written at run
    # time for the run's own snapshot of the port.
    names = port_checks(port, "t", product.active_engine())
    key = port_key(product, port)
    parquet_file = product.contract.published_file(port)

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(check.name, asset=key, description=check.description, blocking=True)
            for check in names
        ],
        name=f"{product.domain}_{port.name}_contract_checks",
        pool=product.pool,
    )
    def contract_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        """Snapshot the port for this run and evaluate every check of the contract on it.

        What the run publishes later is this snapshot, so another run rebuilding the model
        in between can change neither what was audited nor what is published.
        """
        run = lineage_of(product).run(
            key.path, parent=(context.run.job_name, context.run.run_id),
            inputs=[model_data(product, port)], job_type="CHECK", suffix="contract_checks",
            warn=context.log.warning,
        ).start()
        try:
            with warehouse.connect() as wh:
                staged = wh.stage(schema, table, port.name, parquet_file, context.run.run_id)
                results = audit(wh, port, staged)
                if not all(passed for _, passed, _ in results):
                    wh.discard(staged)
        except Exception as error:
            run.fail(error)
            raise
        run.complete(inputs=[model_data(product, port, results)])
        for check, passed, metadata in results:
            if not passed:
                context.log.error(
                    f"Contract check {check.name} failed on {key.to_user_string()}: {metadata}"
                )
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=check.name,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=metadata,
            )

    return contract_checks


def _publisher(product: Product, port: Port, schema: str, table: str) -> dg.AssetsDefinition:
    contract = product.contract
    engine = product.active_engine()
    where = (
        "as one Parquet file"
        if engine == "duckdb"
        else f"as table published.{port.name} on {engine}"
    )

    def publish_snapshot(context: dg.AssetExecutionContext, wh_resource: WarehouseResource):
        """Stage (and audit) unless this run's checks did, profile, promote."""
        parquet_file = contract.published_file(port)
        with wh_resource.connect() as wh:
            staged = wh.staged(port.name, parquet_file, context.run.run_id)
            if staged is None:
                staged = wh.stage(schema, table, port.name, parquet_file, context.run.run_id)
                failed = [check.name for check, passed, _ in audit(wh, port, staged) if not passed]
                if failed:
                    wh.discard(staged)
                    raise dg.Failure(
                        f"Not published: the snapshot of {port.model} fails the contract "
                        f"check(s) {', '.join(failed)}."
                    )
            profiled = profile(wh, staged.relation, wh.staged_columns(staged))
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

        A run that did not check the port (its model was built by an earlier run) takes and
        audits a snapshot here first, and publishes only if every check passes. The port's
        column profile is computed on that snapshot, in one query, before it is published.
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
    """A checks definition and a publishing asset for every port of the contract."""
    contract = product.contract
    if not contract.ports:
        return dg.Definitions()
    disagreements = dbt_disagreements(contract, product.dbt_dir)
    if disagreements:
        # Refuse to load rather than publish ports that break the contract's promises.
        raise ContractError(
            "The dbt models behind the output ports disagree with the contract:\n"
            + "\n\n".join(disagreements)
        )
    manifest = load_manifest(product)
    checks, assets = [], []
    for port in contract.ports:
        schema, table = model_relation(manifest, port.model)
        checks.append(_checks_for(product, port, schema, table))
        assets.append(_publisher(product, port, schema, table))
    return dg.Definitions(assets=assets, asset_checks=checks)

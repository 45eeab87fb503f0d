"""Per output port of the contract: its blocking checks and the asset that publishes it.

The checks run after the port's dbt model is built and are blocking: when one fails,
nothing downstream of the port runs, so the port is not published and the previously
published version stays as it was. Both run on the engine of the active dbt target.
"""

from datetime import timedelta

import dagster as dg

from .automation import refresh_condition
from .contract import ContractError, Port
from .contract.checks import DIALECTS, PortCheck, port_checks, schema_differences
from .contract.dbt import dbt_disagreements
from .dbt.manifest import load_manifest, model_relation
from .resources import WarehouseResource
from .settings import Product
from .warehouse import Warehouse, relation

PUBLISHED = "published"


def port_key(product: Product, port: Port) -> dg.AssetKey:
    """The key of the dbt model behind the port (as the dbt component names it)."""
    return dg.AssetKey([product.domain, port.model])


def published_key(domain: str, port_name: str) -> dg.AssetKey:
    """The key of a published port: the stable name consumers depend on."""
    return dg.AssetKey([domain, PUBLISHED, port_name])


def _evaluate(wh: Warehouse, check: PortCheck, port: Port, schema: str, table: str):
    if check.sql is None:
        found = wh.columns(schema, table)
        problems = (
            schema_differences(list(port.columns), found, wh.engine)
            if found
            else [f"{schema}.{table} does not exist"]
        )
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


def _checks_for(
    product: Product, port: Port, schema: str, table: str
) -> dg.AssetChecksDefinition:
    # The checks' SQL is written for the engine of the target the definitions load for.
    engine = product.active_engine()
    dialect = DIALECTS[engine]
    checks = port_checks(port, f"{dialect.quote(schema)}.{dialect.quote(table)}", engine)
    key = port_key(product, port)

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(check.name, asset=key, description=check.description, blocking=True)
            for check in checks
        ],
        name=f"{product.domain}_{port.name}_contract_checks",
        pool=product.pool,
    )
    def contract_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        """Evaluate every check the contract implies for this port."""
        with warehouse.connect() as wh:
            for check in checks:
                passed, metadata = _evaluate(wh, check, port, schema, table)
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

    @dg.asset(
        key=published_key(product.domain, port.name),
        deps=[port_key(product, port)],
        description=(
            f"Output port {port.name} of contract {contract.id}: {port.description} Published"
            f" {where} after every contract check of {port.model} has passed."
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
        """Publish the port's table, atomically, where consumers read it."""
        with warehouse.connect() as wh:
            target = wh.publish(schema, table, port.name, contract.published_file(port))
            rows = wh.scalar(f"select count(*) from {relation(wh, schema, table)}")
        context.log.info(f"Published {rows} rows of {port.name} to {target}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(target),
                "dagster/row_count": rows,
                "contract_version": contract.version,
            }
        )

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

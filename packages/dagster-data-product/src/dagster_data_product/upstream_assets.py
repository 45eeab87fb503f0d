"""The upstream ports this product reads, declared with the producers' own asset keys.

In a workspace holding both products, the producer's publishing asset and this
declaration share one key, so the two graphs join into one lineage.
"""

import dagster as dg

from .settings import Product, asset_owners


def upstream_definitions(product: Product) -> dg.Definitions:
    """One external asset per pinned upstream port."""
    specs = []
    for upstream in product.upstreams():
        contract = upstream.contract
        owners = asset_owners(contract.owner_team, contract.owner_email)
        for port in upstream.ports:
            specs.append(
                dg.AssetSpec(
                    key=[contract.domain, "published", port.name],
                    description=(
                        f"Output port {port.name} of {upstream.describe()}, major version "
                        f"{upstream.major}: {port.description} Published by its own product."
                    ),
                    owners=owners,
                    group_name="upstreams",
                    kinds={"parquet"},
                    metadata={
                        "contract": dg.MetadataValue.path(str(contract.path)),
                        "pinned_major": upstream.major,
                        "path": dg.MetadataValue.path(str(port.published_file)),
                    },
                )
            )
    return dg.Definitions(assets=specs)

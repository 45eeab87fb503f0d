"""A deterministic stand-in for the operational system the product ingests from.

It yields the same few thousand rows on every machine, with the quirks of real
extracts: orders delivered twice (a re-sent row with a later status), rows that
arrive days late, and gaps in optional fields.
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

SEED = 20240101
FIRST_DAY = date(2024, 1, 1)
DAYS = 182
CUSTOMER_COUNT = 600
PRODUCT_COUNT = 40
ORDER_COUNT = 3000

COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "GB", "US")
CATEGORIES = ("books", "games", "garden", "kitchen", "toys")
STATUSES = ("placed", "shipped", "completed", "returned")
# A re-sent order moves its status forward: the latest delivery is the truth.
NEXT_STATUS = {"placed": "shipped", "shipped": "completed", "completed": "returned"}

# Column types of the raw tables, as the source system delivers them.
RAW_SCHEMAS = {
    "customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("full_name", pa.string()),
            ("email", pa.string()),
            ("country_code", pa.string()),
            ("signed_up_on", pa.date32()),
        ]
    ),
    "products": pa.schema(
        [
            ("product_id", pa.int64()),
            ("product_name", pa.string()),
            ("category", pa.string()),
            ("unit_price", pa.decimal128(10, 2)),
        ]
    ),
    "orders": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("product_id", pa.int64()),
            ("quantity", pa.int32()),
            ("status", pa.string()),
            ("ordered_at", pa.timestamp("us")),
            ("coupon_code", pa.string()),
            ("_loaded_at", pa.timestamp("us")),
        ]
    ),
}


@dataclass(frozen=True)
class SourceData:
    """The rows of one extract, as tuples in the column order of `RAW_SCHEMAS`."""

    customers: list[tuple]
    products: list[tuple]
    orders: list[tuple]

    def tables(self) -> dict[str, pa.Table]:
        """The extract as one Arrow table per raw table, typed by `RAW_SCHEMAS`."""
        rows = {"customers": self.customers, "products": self.products, "orders": self.orders}
        return {
            name: pa.Table.from_pylist(
                [dict(zip(schema.names, row)) for row in rows[name]], schema=schema
            )
            for name, schema in RAW_SCHEMAS.items()
        }


def generate(seed: int = SEED) -> SourceData:
    """Return the extract for `seed`; the same seed always gives the same rows."""
    rng = random.Random(seed)
    customers = []
    for customer_id in range(1, CUSTOMER_COUNT + 1):
        email = None if rng.random() < 0.12 else f"Customer.{customer_id}@Example.com"
        customers.append(
            (
                customer_id,
                f"Customer {customer_id}",
                email,
                rng.choice(COUNTRIES),
                FIRST_DAY - timedelta(days=rng.randint(0, 720)),
            )
        )

    products = []
    for product_id in range(1, PRODUCT_COUNT + 1):
        category = None if product_id % 13 == 0 else CATEGORIES[product_id % len(CATEGORIES)]
        price = Decimal(rng.randint(299, 12999)) / 100
        products.append((product_id, f"Product {product_id}", category, price))

    orders = []
    for order_id in range(1, ORDER_COUNT + 1):
        ordered_at = datetime.combine(FIRST_DAY, datetime.min.time()) + timedelta(
            minutes=rng.randint(0, DAYS * 24 * 60 - 1)
        )
        # Most rows land within a day; some arrive late, up to ten days after the order.
        delay = (
            timedelta(days=rng.randint(3, 10))
            if rng.random() < 0.03
            else timedelta(hours=rng.randint(1, 23))
        )
        status = rng.choices(STATUSES, weights=(10, 20, 65, 5))[0]
        coupon = f"SAVE{rng.choice((5, 10, 15))}" if rng.random() < 0.15 else None
        row = (
            order_id,
            rng.randint(1, CUSTOMER_COUNT),
            rng.randint(1, PRODUCT_COUNT),
            rng.randint(1, 5),
            status,
            ordered_at,
            coupon,
            ordered_at + delay,
        )
        orders.append(row)
        if status in NEXT_STATUS and rng.random() < 0.02:
            resent = (*row[:4], NEXT_STATUS[status], row[5], row[6], row[7] + timedelta(days=1))
            orders.append(resent)
    return SourceData(customers=customers, products=products, orders=orders)

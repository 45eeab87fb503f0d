"""Landing raw data in the warehouse's raw schema."""

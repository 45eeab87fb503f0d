"""Output ports: the contract's blocking checks and write-audit-publish to Parquet."""

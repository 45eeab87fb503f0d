"""The product's definitions: one folder per technology, loaded by `dg`."""

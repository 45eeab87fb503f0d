"""Python analytics on top of the marts."""

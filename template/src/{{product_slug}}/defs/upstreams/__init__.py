"""Upstream products' output ports, declared under their own keys."""

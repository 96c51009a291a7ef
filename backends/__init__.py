"""Backends: one module per upstream type behind the :class:`backends.base.Backend` protocol."""

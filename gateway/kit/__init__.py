"""Shared helpers, one named module per topic."""

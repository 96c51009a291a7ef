"""Tollgate: an OpenAI-compatible gateway in front of self-hosted and hosted models."""

from __future__ import annotations

from importlib import metadata

# The name Tollgate is installed under. "tollgate" on the package index is another project: nobody
# should ever be sent to install that one. The command and the import packages keep the short name.
DISTRIBUTION = "tollgate-model-gateway"


def version() -> str:
    return metadata.version(DISTRIBUTION)


def install_extra(extra: str) -> str:
    """How to add an optional extra: from the checkout (or a built wheel), never from the index by name."""
    return f"install the {extra} extra: pip install '.[{extra}]' in Tollgate's checkout"

"""Tollgate: an OpenAI-compatible gateway in front of self-hosted and hosted models."""

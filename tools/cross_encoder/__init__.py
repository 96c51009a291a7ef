"""Training of the semantic cache's cross-encoder (not shipped in the wheel; see README.md here)."""

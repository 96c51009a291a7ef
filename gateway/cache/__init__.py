"""Response caching."""

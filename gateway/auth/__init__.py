"""Customer API keys: their format, their hashes, and the in-process cache that serves them."""

"""Customer API keys: their format, their hashes, their storage and the in-process cache that serves them."""

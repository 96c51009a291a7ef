"""The HTTP edge: ASGI reading and writing, the hardened server protocol, SSE framing, error rendering."""

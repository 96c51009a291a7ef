"""The admin API under ``/admin``: customers, credits, keys, usage and price books."""

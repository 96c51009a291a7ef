"""``/v1/batches``: jobs of many requests, run in the background at the lowest priority (the throughput lane)."""

"""What operators see of each request: metrics, one structured log line, and optionally a trace span."""

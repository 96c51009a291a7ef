"""Metering: what each request used, what it cost, and the crash-safe path to the database."""

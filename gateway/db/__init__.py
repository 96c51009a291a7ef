"""Storage: SQLAlchemy 2 models (one module per table), the engine, and repositories."""

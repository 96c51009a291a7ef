"""HTTP routes: the only modules that know about Litestar besides the app factory."""

"""Sections of the one typed settings object (:mod:`gateway.settings`) that domains read: plain
msgspec structs below every domain, so the settings never import back up into the code they configure."""

"""Which database a usage journal belongs to.

A journal's records carry customer and key ids that mean something in one database only: drained
into another, they would bill the wrong customers. So each journal belongs to exactly one database.
Unless ``journal_dir`` is set, it lives in ``.tollgate/journal/<database>/``, where ``<database>``
names the database's identity (its kind and a short hash of its location: host, port and name, or a
SQLite file's absolute path; never the user, the password or the options), and every segment starts
with a header line naming the database it was written for. A drain stores only its own database's
segments: one written for another is left where it is for its own gateway, and is logged and
counted (``tollgate_journal_refused_segments``). A segment without a header (written before
journals recorded their database) belongs to whoever drains the directory it is in.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.metering.journal import SUFFIX, Journal, SegmentHeader, segment_header
from gateway.settings import Settings

log = logging.getLogger("tollgate.metering")

DEFAULT_ROOT = Path(".tollgate/journal")
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def database_identity(database_url: str) -> str:
    """The database ``database_url`` reaches, as a URL without user, password, driver or options."""
    url = make_url(database_url)
    backend = {"postgres": "postgresql"}.get(url.get_backend_name(), url.get_backend_name())
    if backend == "sqlite":
        database = url.database or ":memory:"
        return f"sqlite:///{database if database == ':memory:' else Path(database).resolve()}"
    query_host = url.query.get("host")
    host = url.host or (query_host if isinstance(query_host, str) else None) or "localhost"
    port = url.port or _DEFAULT_PORTS.get(backend, 0)
    return f"{backend}://{host.lower()}:{port}/{url.database or ''}"


def journal_owner(database_url: str) -> SegmentHeader:
    """The header of every segment written for the database of ``database_url``."""
    identity = database_identity(database_url)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return SegmentHeader(journal=1, database=f"{identity.partition(':')[0]}-{digest}", identity=identity)


def journal_directory(journal_dir: str | None, owner: SegmentHeader) -> Path:
    """Where this gateway's journal lives: ``journal_dir`` as configured, else its database's own
    directory under ``.tollgate/journal``."""
    if journal_dir is not None:
        return Path(journal_dir)
    legacy = sorted(p for p in DEFAULT_ROOT.glob(f"*{SUFFIX}") if segment_header(p) is None)
    if legacy:
        log.warning(
            "%d usage journal segments in %s were written before journals recorded their database and are"
            " not drained from there; if they are this database's usage (%s), move them (with their .done"
            " files) into %s",
            len(legacy),
            DEFAULT_ROOT,
            owner.identity,
            DEFAULT_ROOT / owner.database,
        )
    return DEFAULT_ROOT / owner.database


def open_journal(settings: Settings) -> Journal:
    """This process's journal: in its database's directory, each segment headed by that database."""
    owner = journal_owner(settings.database_url)
    return Journal(
        journal_directory(settings.journal_dir, owner),
        header=owner,
        min_free_bytes=settings.journal_min_free_bytes,
        fsync=settings.journal_fsync,
        fsync_interval=settings.journal_fsync_interval_seconds,
    )


class SegmentOwnership:
    """Which segments a drain may store in its database; each refused one is logged once."""

    def __init__(self, owner: SegmentHeader) -> None:
        self.owner = owner
        self.refused: set[Path] = set()  # segments written for another database, seen on the last pass

    def owns(self, segment: Path) -> bool:
        header = segment_header(segment)
        if header is None or header.database == self.owner.database:
            return True
        if segment not in self.refused:
            log.error(
                "usage journal segment %s was written for another database (%s), not this gateway's (%s):"
                " not drained here; the gateway of that database drains it",
                segment,
                header.identity,
                self.owner.identity,
            )
            self.refused.add(segment)
        return False

    def forget_missing(self) -> None:
        """Stop counting refused segments that are gone (drained and removed by their own gateway)."""
        self.refused = {segment for segment in self.refused if segment.exists()}

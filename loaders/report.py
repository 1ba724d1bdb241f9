"""What an ingest did, file by file: a light module, so the CLI can show a report without the ingest stack."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["added", "updated", "unchanged", "deleted", "failed", "skipped"]


@dataclass
class FileResult:
    """What happened to one file, and why when it failed."""

    source: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """The outcome of one ingest run, printed by the CLI and returned by POST /api/ingest."""

    directory: str
    collection: str
    files: list[FileResult] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def count(self, status: Status) -> int:
        """Files that ended with this status."""
        return sum(1 for f in self.files if f.status == status)

    @property
    def exit_code(self) -> int:
        """1 when some file failed (the rest is still ingested), else 0."""
        return 1 if self.count("failed") else 0

    def summary(self) -> dict[str, int]:
        """Files per status, every status present (0 included) so scripts can rely on the keys."""
        statuses: tuple[Status, ...] = ("added", "updated", "unchanged", "deleted", "failed", "skipped")
        return {s: self.count(s) for s in statuses}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the summary and exit code, for --json and the API."""
        return {**asdict(self), "summary": self.summary(), "exit_code": self.exit_code}

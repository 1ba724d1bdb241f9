"""`python -m loaders` / `mentor-ingest`: a thin shell over loaders.ingest, loaders.backup and the store."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from core.settings import Settings, get_settings
from core.store_errors import DatabaseLockedError, StoreError, lite_db_locked
from loaders.report import IngestReport

app = typer.Typer(add_completion=False, no_args_is_help=False, help="Ingest course materials into AI Mentor.")
console = Console(stderr=True)


class _Bar:
    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.bar = tqdm(total=total, desc=label, unit=" " + label, disable=not enabled, file=sys.stderr)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def add_total(self, n: int) -> None:
        self.bar.total = (self.bar.total or 0) + n
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _settings(collection: str | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"milvus_collection_name": collection}) if collection else settings


def _held_by_server(settings: Settings) -> bool:
    """Milvus Lite lets one process open a database: when the API server holds it, ask the server. Checked
    before the ingest stack is imported, which alone takes seconds (pymilvus, torch, the model)."""
    return settings.milvus_is_local and lite_db_locked(Path(settings.milvus_connection_uri))


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _quiet_libraries(settings: Settings) -> tuple[Path, _Counter]:
    """The terminal shows our progress bars, warnings and summary; libraries' warnings (pypdf's font notes,
    148 lines for one 288-page book) go to a log file beside the database."""
    log_path = settings.data_dir / "ingest.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    counter = _Counter()
    logging.basicConfig(level=logging.WARNING, handlers=[to_file, counter], force=True)
    logging.captureWarnings(True)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for ours in ("loaders", "core", "graph", "ai_mentor"):
        logging.getLogger(ours).addHandler(to_terminal)
    return log_path, counter


def _via_server(settings: Settings, directory: Path, *, reset: bool, dry_run: bool) -> IngestReport:
    from loaders.remote import RemoteIngestError, ingest_via_server

    console.print(f"[yellow]The database is held by the API server: ingesting through {settings.api_url}[/]")
    try:
        return ingest_via_server(settings, directory, reset=reset, dry_run=dry_run)
    except RemoteIngestError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@app.callback(invoke_without_command=True)
def ingest(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--directory", "-d", help="Folder of course materials to ingest.")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Collection name (default: MILVUS_COLLECTION_NAME).")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Drop the collection and its records, then rebuild.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Ingest --directory incrementally: new and changed files indexed, removed files deleted."""
    if ctx.invoked_subcommand is not None:
        return
    if directory is None:
        raise typer.BadParameter("--directory is required", param_hint="--directory")
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a folder", param_hint="--directory")
    settings = _settings(collection)
    if _held_by_server(settings):
        report = _via_server(settings, directory, reset=reset, dry_run=dry_run)
    else:
        log_path, library_messages = _quiet_libraries(settings)
        from loaders.ingest import ingest_directory

        show = not quiet and not as_json and sys.stderr.isatty()
        try:
            report = ingest_directory(
                directory,
                settings=settings,
                reset=reset,
                dry_run=dry_run,
                progress=lambda total, label: _Bar(total, label, show),
            )
        except DatabaseLockedError:  # the server started meanwhile
            report = _via_server(settings, directory, reset=reset, dry_run=dry_run)
        except StoreError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
        if library_messages.count and not as_json:
            console.print(f"[dim]{library_messages.count} messages from libraries written to {log_path}[/]")
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(report.exit_code)


def _print_report(report: IngestReport) -> None:
    problems = [f for f in report.files if f.status in ("failed", "skipped")]
    if problems:
        table = Table(title="Not ingested", show_lines=False)
        table.add_column("file")
        table.add_column("status")
        table.add_column("reason")
        for f in problems:
            table.add_row(f.source, f"[red]{f.status}[/]" if f.status == "failed" else f.status, f.reason)
        console.print(table)
    # One row per figure: eight columns side by side were cut to "unchang…" in an 80-column terminal.
    console.print(f"Ingest of {report.directory} → {report.collection}" + (" (dry run)" if report.dry_run else ""))
    summary = Table(show_header=False)
    summary.add_column("what", no_wrap=True)
    summary.add_column("count", justify="right", no_wrap=True)
    for status, count in report.summary().items():
        summary.add_row(f"files {status}", str(count))
    summary.add_row("chunks written", str(report.chunks_written))
    summary.add_row("seconds", f"{report.seconds:.1f}")
    console.print(summary)


@app.command()
def stats(
    collection: Annotated[str | None, typer.Option(help="Collection name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Chunks per source in the collection."""
    settings = _settings(collection)
    if _held_by_server(settings):
        import httpx

        from loaders.remote import auth_headers

        data = httpx.get(f"{settings.api_url}/api/chat/stats", headers=auth_headers(settings), timeout=30).json()
        per_source = data.get("chunks_per_source", {})
    else:
        from core.factories import get_store

        try:
            store = get_store(settings)
        except StoreError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
        per_source = store.chunks_per_source()
        store.close()
    if as_json:
        print(json.dumps({"collection": settings.milvus_collection_name, "chunks_per_source": per_source}, indent=2))
        return
    table = Table(title=f"{settings.milvus_collection_name}: {sum(per_source.values())} chunks")
    table.add_column("source")
    table.add_column("chunks", justify="right")
    for source, count in per_source.items():
        table.add_row(source, str(count))
    console.print(table)


@app.command()
def backup(archive: Annotated[Path, typer.Argument(help="Archive to write (.tar.gz).")]) -> None:
    """Back up the Milvus Lite database and its ingest records to one archive."""
    from loaders.backup import backup as do_backup

    try:
        path = do_backup(get_settings(), archive)
    except StoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"Backed up to {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="Archive made by `backup`.")],
    check_query: Annotated[str, typer.Option(help="Query run to verify the restored database.")] = "Python",
) -> None:
    """Restore a backup (the current database is kept aside), then verify it answers a query."""
    from core.factories import get_store
    from loaders.backup import recorded_files
    from loaders.backup import restore as do_restore

    settings = get_settings()
    try:
        do_restore(settings, archive)
        store = get_store(settings)
        # A chunk no confined record accounts for came from outside any ingested folder: it would be quoted. The
        # check needs the database open, so it runs after the swap; such a collection is dropped, never served.
        unknown = store.file_ids() - {file_id for _, file_id in recorded_files(settings.record_manager_path)}
        if unknown:
            store.drop()
            store.close()
            raise StoreError(
                f"{archive} holds chunks of {len(unknown)} file(s) its ingest records don't list (e.g. "
                f"{sorted(unknown)[0]}): the restored collection was dropped (the previous database is kept beside "
                "it as *.before-restore-*). Re-ingest the folder instead."
            )
        count, hits = store.count(), store.search(check_query, 1, floor=-1.0)
        store.close()
    except StoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if not count or not hits:
        console.print(f"[red]Restored database answers no query ({count} chunks).[/]")
        raise typer.Exit(1)
    console.print(f"Restored {count} chunks; '{check_query}' → {hits[0].metadata.get('source')}")


def main() -> None:
    """Entry point of `mentor-ingest`."""
    app()


if __name__ == "__main__":
    main()

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

from core.settings import get_settings
from core.store import DatabaseLockedError, StoreError

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


def _settings(collection: str | None):  # type: ignore[no-untyped-def]
    settings = get_settings()
    return settings.model_copy(update={"milvus_collection_name": collection}) if collection else settings


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
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = _settings(collection)
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
    except DatabaseLockedError:
        from loaders.remote import RemoteIngestError, ingest_via_server

        console.print(f"[yellow]The database is held by the API server: ingesting through {settings.api_url}[/]")
        try:
            report = ingest_via_server(settings, directory, reset=reset, dry_run=dry_run)
        except RemoteIngestError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
    except StoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(report.exit_code)


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    problems = [f for f in report.files if f.status in ("failed", "skipped")]
    if problems:
        table = Table(title="Not ingested", show_lines=False)
        table.add_column("file")
        table.add_column("status")
        table.add_column("reason")
        for f in problems:
            table.add_row(f.source, f"[red]{f.status}[/]" if f.status == "failed" else f.status, f.reason)
        console.print(table)
    summary = Table(
        title=f"Ingest of {report.directory} → {report.collection}" + (" (dry run)" if report.dry_run else "")
    )
    for column in (
        "added",
        "updated",
        "unchanged",
        "deleted",
        "failed",
        "skipped",
        "chunks written",
        "seconds",
    ):
        summary.add_column(column, justify="right")
    counts = report.summary()
    summary.add_row(
        *(str(counts[s]) for s in ("added", "updated", "unchanged", "deleted", "failed", "skipped")),
        str(report.chunks_written),
        f"{report.seconds:.1f}",
    )
    console.print(summary)


@app.command()
def stats(
    collection: Annotated[str | None, typer.Option(help="Collection name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Chunks per source in the collection."""
    from core.factories import get_store

    settings = _settings(collection)
    try:
        store = get_store(settings)
    except DatabaseLockedError:
        import httpx

        from loaders.remote import auth_headers

        data = httpx.get(f"{settings.api_url}/api/chat/stats", headers=auth_headers(settings), timeout=30).json()
        per_source = data.get("chunks_per_source", {})
    except StoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    else:
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
    from loaders.backup import restore as do_restore

    settings = get_settings()
    try:
        do_restore(settings, archive)
        store = get_store(settings)
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

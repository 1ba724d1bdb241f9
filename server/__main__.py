"""`python -m server` / `mentor-server`: check the settings, then run the API with uvicorn.

One process by default (Milvus Lite: one process per database); API_WORKERS=N or --workers N runs N
uvicorn workers once the state is external (a Milvus server, PostgreSQL for conversations).
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from core.settings import get_settings


def main() -> None:
    """Entry point of `mentor-server`: the settings give the defaults, flags override them."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the AI Mentor API server.")
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
    parser.add_argument("--workers", type=int, default=settings.api_workers, help="uvicorn workers (API_WORKERS)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--check", type=int, metavar="PROCESSES", help="only check the settings for this many API processes"
    )
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from server import metrics, preflight

    settings.api_workers = args.workers
    try:
        preflight.check(settings, processes=args.check or args.workers)
    except preflight.PreflightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.check:
        return
    metrics.prepare_workers(args.workers)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()

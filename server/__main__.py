"""`python -m server` / `mentor-server`: run the API with uvicorn (one worker: Milvus Lite is one process)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from core.settings import get_settings


def main() -> None:
    """Entry point of `mentor-server`: the settings give the defaults, flags override them."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the AI Mentor API server.")
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("server.app:create_app", factory=True, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()

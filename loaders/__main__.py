"""`python -m loaders`: the loader CLI (loaders/cli.py)."""

from loaders.cli import main

main()

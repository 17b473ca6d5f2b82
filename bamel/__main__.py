"""``python -m bamel`` runs the command line."""

from bamel.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bamel`` runs the command line."""

from bamel.cli import main

raise SystemExit(main())

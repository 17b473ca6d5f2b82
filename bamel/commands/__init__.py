"""One module per ``bamel`` subcommand; each exposes ``register(subparsers)``."""

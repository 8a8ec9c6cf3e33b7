"""Subcommands of the ``actsparse`` CLI, one module each (``register(subparsers)``)."""

"""Subcommands of the ``actsparse`` CLI, one module each (``register(subparsers)``)."""


def thread_count(text: str) -> int:
    """argparse type of a ``--num_threads`` option: an integer >= 1 (argparse
    names the option in its error)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} threads: give 1 or more")
    return value

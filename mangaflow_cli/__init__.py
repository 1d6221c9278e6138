"""The `mangaflow` command: a client of the Mangaflow HTTP API (start, follow, answer gates,
download), plus `mangaflow services` to manage the local stack."""
from .main import main

__all__ = ["main"]

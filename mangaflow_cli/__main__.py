"""`python -m mangaflow_cli` is the `mangaflow` command."""
import sys

from .main import main

sys.exit(main())

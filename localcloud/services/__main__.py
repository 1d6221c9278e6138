"""`python -m localcloud.services up|down|status [--json]`."""

import sys

from localcloud.services.cli import main

sys.exit(main(sys.argv[1:]))

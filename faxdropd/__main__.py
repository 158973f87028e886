"""`python -m faxdropd`: the same entry point as the `faxdropd` console script."""

import sys

from faxdropd.cli.main import main

sys.exit(main())

"""``python -m rsir_pl`` runs the ``rsir`` command line (also how DDP re-launches itself)."""

import sys

from rsir_pl.cli import main

sys.exit(main())

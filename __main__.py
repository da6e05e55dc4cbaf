"""``python -m genziqa``: the ``genziqa`` command."""

import sys

from .core.cli import main

sys.exit(main())

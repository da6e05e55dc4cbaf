"""``python -m genziqa.core.cli``: the ``genziqa`` command."""

import sys

from . import main

sys.exit(main())

"""``python -m xlnn``: the same as the ``xlnn`` command."""

import sys

from xlnn.cli import main

sys.exit(main())

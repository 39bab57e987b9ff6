"""``python -m gungnir`` is the ``gungnir`` command."""

import sys

from gungnir.cli import main

sys.exit(main())

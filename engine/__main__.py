"""``python -m engine``: the operator CLI."""

import sys

from engine.cli import main

sys.exit(main())

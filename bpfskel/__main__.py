"""``python -m bpfskel``."""

import sys

from .cli import main

sys.exit(main())

"""``python -m petface_edge.train`` (what ``torchrun ... -m petface_edge.train`` launches)."""

import sys

from .cli import main

sys.exit(main())

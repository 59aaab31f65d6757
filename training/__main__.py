"""`python -m training ...` (what torchrun launches) is `oasis-train ...`."""

import sys

from .cli import main

sys.exit(main())

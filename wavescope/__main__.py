"""``python -m wavescope``: the same as the ``wavescope`` command."""

import sys

from .cli import main

sys.exit(main())

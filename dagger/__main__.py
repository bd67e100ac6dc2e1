"""``python -m dagger``: the ``dagger`` command."""

from __future__ import annotations

import sys

from dagger.cli import main

sys.exit(main())

"""Instance ids: random by default, reproducible from a seeded ``random.Random``."""

from __future__ import annotations

import random
import uuid


def new_id(seed: random.Random | None) -> str:
    """Return a new UUID4 string, drawn from ``seed`` when one is given."""
    if seed is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=seed.getrandbits(128), version=4))

"""Make a stored instance name a task class that is gone, as a rename in the code would."""

from __future__ import annotations

import json
from collections.abc import MutableMapping

from dagger.core._registry import class_key

GONE = "billing.tasks:ChargeCard"
"""The old path of a task class that was renamed, which no registered template uses."""


def rename_stored_class(
    store: MutableMapping[bytes, bytes], instance_id: str, cls: type, old_path: str = GONE
) -> None:
    """Rewrite the stored instance so that its tasks of class ``cls`` name ``old_path``."""
    key = instance_id.encode()
    document = json.loads(store[key])
    assert class_key(cls) in document["classes"], document["classes"]
    document["classes"] = [old_path if k == class_key(cls) else k for k in document["classes"]]
    store[key] = json.dumps(document).encode()

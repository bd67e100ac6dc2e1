"""The Dagger engine service (public façade)."""

from __future__ import annotations

from dagger.service._dagger import Dagger

__all__ = ["Dagger"]

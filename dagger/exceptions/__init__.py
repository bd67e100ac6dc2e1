"""Dagger exceptions package."""

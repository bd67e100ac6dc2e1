"""Dagger templates package."""

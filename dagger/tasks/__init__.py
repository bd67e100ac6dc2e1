"""Dagger tasks package."""

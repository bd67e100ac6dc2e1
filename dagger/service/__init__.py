"""Dagger service package."""

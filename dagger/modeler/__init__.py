"""Dagger modeler package."""

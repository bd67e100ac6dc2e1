"""A module that defines no Dagger instance, for the CLI's error path."""

ANSWER = 42

"""Runs the orders engine with ``Dagger.main()`` from a program that configures no logging.

The original's README program is such a program: the worker's log (and the reason of a
crash) must still be seen.
"""

from integration_tests.apps.orders_app import engine

if __name__ == "__main__":
    engine.main()

"""Runs the orders engine with ``Dagger.main()``, as a program written for the original does.

``main()`` keeps the program's own logging configuration (``override_logging=False``).
"""

import logging

from integration_tests.apps.orders_app import engine

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    engine.main()

"""Running an engine as a faust worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import faust

from dagger import _faust_internals as faust_internals
from dagger.broker._tansu_compat import apply_if_requested
from dagger.service._worker_log import log_start, quiet_libraries
from dagger.web._address import advertise, check_web_port

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class _EngineWorker(faust.Worker):
    """faust's worker, saying what the engine runs on as it starts (``_worker_log``)."""

    def __init__(self, engine: Dagger, *args: Any, **kwargs: Any) -> None:
        self.engine = engine
        super().__init__(*args, **kwargs)

    @property
    def label(self) -> str:
        """faust's label: the log keeps saying ``[^Worker]: Ready``."""
        return "Worker"

    async def on_execute(self) -> None:
        """Quiet the library loggers once logging is set up, before the app starts."""
        await super().on_execute()
        quiet_libraries(self.loglevel)

    async def on_startup_finished(self) -> None:
        """Log the start lines, then faust's "Ready"."""
        log_start(self.engine)
        await super().on_startup_finished()


def run_worker(
    engine: Dagger,
    *,
    loglevel: str = "info",
    web_port: int | None = None,
    web_bind: str | None = None,
    web_host: str | None = None,
    override_logging: bool = True,
) -> None:
    """Run ``engine``'s faust app as a worker in this process until it is stopped.

    Raises:
        WebPortError: The web server cannot listen on its port (in use, say); nothing
            was started.
    """
    engine.settings.require_broker("running a worker")
    apply_if_requested()
    app = engine.faust_app
    if web_port is not None:
        app.conf.web_port = web_port
    if web_bind is not None:
        app.conf.web_bind = web_bind
    check_web_port(app.conf)
    advertise(app.conf, engine.settings.faust_settings, web_host=web_host)
    worker = _EngineWorker(
        engine,
        app,
        loglevel=loglevel,
        logging_config=engine.settings.logging_config,
        override_logging=override_logging,
    )
    # faust's start-up spinner would lower the root logger to DEBUG (see without_spinner).
    faust_internals.without_spinner(worker)
    worker.execute_from_commandline()

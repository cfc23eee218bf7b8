"""``DoctorMiddleware``: the doctor on every request of a development server.

Pure ASGI, so it works with FastAPI, Starlette or any ASGI app, and wraps
the whole request: the endpoint, its dependencies, the serialisation of the
response (reads there count as reads, for ``unused_eager_load``), and a
streamed body until its end. Two things come out of each request:

- a ``Server-Timing`` header on the response, which browsers' developer
  tools show next to the request: ``db;dur=12.3;desc="5 statements"``, the
  time spent in the database and the statements run before the response
  started;
- the findings, logged on the ``asqla.doctor`` logger with the request they
  belong to: WARNING for problems, INFO for information (a pagination walk).

It never fails a request: a finding is logged, not raised. It is a
development tool; in production leave it out, and no event listener is
installed at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any

from ._findings import Report
from ._options import DoctorOptions
from ._scope import doctor

__all__ = ["DoctorMiddleware"]

logger = logging.getLogger("asqla.doctor")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class DoctorMiddleware:
    """Watch each HTTP request with the doctor, time its database work, and log its findings.

    Add it last, so that it is the outermost middleware and also sees the
    COMMIT that [`install()`][asqla.fastapi.install]'s unit of work sends
    when the response starts::

        app = FastAPI(lifespan=lifespan(db))
        install(app, db)
        if settings.debug:
            app.add_middleware(DoctorMiddleware)

    Args:
        app: The ASGI app to wrap.
        options: The doctor's thresholds and filters (`DoctorOptions`);
            its ``fail_on`` is ignored, as the middleware never fails a request.
        strict: Refuse every lazy load with `LazyLoadError` (see `doctor.strict()`).
        server_timing: Add the ``Server-Timing`` header. Default ``True``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        options: DoctorOptions | None = None,
        strict: bool = False,
        server_timing: bool = True,
    ) -> None:
        self.app = app
        # "raise" with nothing to raise for: the scope reports, the middleware logs.
        self.options = replace(options or DoctorOptions(), fail_on=frozenset())
        self.strict = strict
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        report: Report | None = None
        try:
            async with doctor("raise", strict=self.strict, options=self.options) as report:
                watched = report

                async def send_with_timing(message: Message) -> None:
                    if message["type"] == "http.response.start" and self.server_timing:
                        value = server_timing(watched).encode("latin-1")
                        message = {
                            **message,
                            "headers": [*message.get("headers", ()), (b"server-timing", value)],
                        }
                    await send(message)

                await self.app(scope, receive, send_with_timing)
        finally:
            if report is not None:
                _log(scope, report)


def server_timing(report: Report) -> str:
    """The ``Server-Timing`` value for what ``report`` saw so far (time and statement count)."""
    seconds = sum(s.duration or 0.0 for s in report.statements)
    count = report.query_count
    noun = "statement" if count == 1 else "statements"
    return f'db;dur={seconds * 1000:.1f};desc="{count} {noun}"'


def _log(scope: Scope, report: Report) -> None:
    request = f"{scope.get('method', '?')} {scope.get('path', '?')}"
    for finding in report.findings:
        level = logging.INFO if finding.severity == "info" else logging.WARNING
        logger.log(level, "asqla doctor: %s: %s: %s", request, finding.kind, finding.message)

"""Run the service with uvicorn: one process (the app built here) or several workers.

``campaignrec serve`` and ``campaignrec demo --serve`` both call :func:`run`. Several workers
import :func:`campaignrec.service.app.create_app_from_env`, so the settings travel through the
environment (``CAMPAIGNREC_HOME`` and the other ``CAMPAIGNREC_*`` variables).
"""

from __future__ import annotations

import os

from campaignrec.config import Settings


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve until interrupted (Ctrl-C)."""
    import uvicorn

    os.environ["CAMPAIGNREC_HOME"] = str(settings.home)
    if workers > 1:
        uvicorn.run(
            "campaignrec.service.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )
        return
    from campaignrec.service.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, access_log=False)

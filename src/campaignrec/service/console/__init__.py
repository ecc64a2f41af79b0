"""The operations console under ``/console``: server-rendered pages in English and 简体中文.

See ``docs/console.md``. ``router`` is included by :func:`campaignrec.service.app.create_app`.
"""

from campaignrec.service.console.routes import router

__all__ = ["router"]

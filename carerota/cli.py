"""The ``carerota`` command as installed: the engine's commands and the service's together.

``scheduler/`` is the core and imports nothing from ``api/``; the service's commands
(``serve``, ``demo``, ``timebank reconcile``) live in ``api/commands.py``. This thin module
above both puts them on one command line. The registration is unconditional: a broken import
in the service fails loudly instead of hiding its commands.
"""

from __future__ import annotations

from api.commands import register
from scheduler.cli import app

register(app)

__all__ = ["app"]

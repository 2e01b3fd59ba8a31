"""Logging of the service's processes (API, ``carerota worker``, ``carerota scheduler``).

Every record carries ``run_id`` (the solve run being worked on in that thread, from
:data:`api.worker.current_run`, or given with ``extra={"run_id": ...}``; ``null`` otherwise)
and ``process`` / ``processName``. ``CAREROTA_LOG_FORMAT=json`` writes one JSON object a line
(python-json-logger), for a log collector; ``text`` (the default) a readable line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d run %(run_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(run_id)s %(message)s"


class RunIdFilter(logging.Filter):
    """Adds ``run_id`` to every record (the thread's current run unless the record names one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            from api.worker import current_run

            record.run_id = current_run.get()
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                                         "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Any, level: int = logging.INFO) -> None:
    """One stderr handler on the root logger, in the configured format (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_carerota", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._carerota = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(getattr(settings, "log_format", "text")))
    handler.addFilter(RunIdFilter())
    root.addHandler(handler)
    root.setLevel(level)

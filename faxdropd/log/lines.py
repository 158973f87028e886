"""faxdropd's own log lines: rendered by structlog's chain, then written by the handler with nothing in between.

The standard library's way (a LogRecord, the handler's filter, ProcessorFormatter copying the record and the
event once more) was a third of a line's cost, at six lines a fax. Other libraries' records (zeep, watchdog,
pypdf) still take it: the same handler formats them with the same processors (``log.configure``), so a line
looks the same whoever wrote it, and both kinds share the handler's lock and stream.
"""

from __future__ import annotations

import logging
from typing import TextIO

__all__ = ["LineHandler", "LineWriter"]


class LineHandler(logging.StreamHandler[TextIO]):
    """A stream handler that also writes a line rendered already."""

    def write_line(self, line: str) -> None:
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
            self.flush()
        except Exception:
            # As emit() does: a line that cannot be written is reported on stderr and never stops the daemon.
            self.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            self.release()


class LineWriter:
    """structlog's logger: the chain's last processor returns the line, and structlog calls the level's method
    with it (the level itself is in the line already, put there by the chain)."""

    def __init__(self, handler: LineHandler, name: str = "faxdropd", *_: object) -> None:
        self.name = name  # structlog.stdlib.add_logger_name reads it
        self._handler = handler

    def msg(self, line: str) -> None:
        self._handler.write_line(line)

    debug = info = warning = error = critical = msg

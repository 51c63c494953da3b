"""The command line's view of the library's log: plain lines on stderr.

INFO lines (a run's start decision, one line per epoch, heartbeats) are printed as they are,
warnings as ``warning: ...``; ``-v`` adds DEBUG details with their origin. While a progress
bar is on screen, lines are written through tqdm so they do not tear the bar.
"""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm


class ConsoleHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (so redirections and test captures see it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # a logging handler must never raise into the code that logged
            self.handleError(record)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"warning: {text}"
        if record.levelno < logging.INFO:
            return f"debug {record.name}: {text}"
        return text


def configure_console(verbose: bool) -> None:
    """Show the ``labelrobust`` log on stderr: INFO and above, DEBUG too with ``-v``."""
    logger = logging.getLogger("labelrobust")
    for old in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(old)
    handler = ConsoleHandler()
    handler.setFormatter(ConsoleFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

"""Limits shared by the config and the log scrubber, in a leaf that imports nothing.

The shortest secret accepted is decided here because the config must check it and importing it from
``faxdropd.log.scrub`` would load ``faxdropd.log`` (structlog, rich) into every console command.
"""

from __future__ import annotations

__all__ = ["MIN_SECRET_LENGTH"]

# Shorter secrets are everyday words: masking them would mangle ordinary log text, so the config refuses them.
MIN_SECRET_LENGTH = 8

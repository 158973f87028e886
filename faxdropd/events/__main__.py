"""`python -m faxdropd.events --markdown`: print docs/EVENTS.md."""

from __future__ import annotations

import sys

from faxdropd.events.doc import markdown

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m faxdropd.events --markdown > docs/EVENTS.md")
sys.stdout.write(markdown())

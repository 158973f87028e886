"""Python's cyclic garbage collector, tuned for a long-running daemon with a large heap that never dies.

The WSDL's schema (zeep), the config and the libraries are some 80,000 objects that live as long as the
process. With the default thresholds (700, 10, 10) the collector walked the young objects about once per fax
and, every few hundred faxes, the whole heap with the schema in it: ~0.25 ms of CPU per fax on the benchmark
(docs/bench/notes.md, round 10). Reference counting frees almost everything the daemon makes; the collector
is only there for cycles (zeep's and lxml's objects make a few), and those may wait a little longer.

So: the young generation is collected every YOUNG new container objects instead of 700 (most are gone by
then, so a collection finds few survivors to walk), and what is alive once the daemon is ready is frozen:
never walked again. Collections per generation are in /metrics (python_gc_collections_total).
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # a young collection walks the survivors: at this size ~3 ms, a few times a minute when busy
_tuned = False


def tune() -> None:
    """For the `run` process alone (not a daemon run inside another program, such as the test suite, whose
    objects are not the daemon's to freeze): call it first."""
    global _tuned
    gc.set_threshold(YOUNG, 10, 10)
    _tuned = True


def freeze_startup() -> None:
    """Once the daemon is ready: collect what start-up left over, then keep the survivors out of every
    later collection (the schema, the config, the modules). Nothing unless tune() chose this process."""
    if _tuned:
        gc.collect()
        gc.freeze()

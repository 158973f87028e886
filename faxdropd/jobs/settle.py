"""A claimed document that is still being written goes back to waiting, never to pre-flight half-written.

The watcher's stability rule (watch/stability.py, document/completeness.py) can be fooled by a writer that
keeps its descriptor open: after the claim renamed the file into the work area, the writer goes on writing
into the same inode. So the claim records the (size, mtime_ns) it took (intake._claim: the lstat just
before the rename, which is what the watcher last saw stable or newer), and the pipeline compares the
claimed inode with it before pre-flight (pipeline._process → still_changing).

Design chosen: the job stays claimed and is re-checked later (deferred with the ordinary retry backoff),
rather than released back into the hot folder. Why: keeping it claimed is one journal transition on a job
that already exists; no rename races a new file of the same name, no second claim, no sidecar to pair up
again, and a crash in between leaves an ordinary deferred job that recovery already knows. It never reaches
pre-flight while it changes (each re-check records the newest state and needs it unchanged by the next), and
its content must also look complete (document.completeness) until ``incomplete_grace`` after its last
write; after that pre-flight decides, as for any other file. A file that changes for longer than the retry
lifetime is filed in failed/ with a receipt ("gave up …"), never lost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from faxdropd.document import completeness
from faxdropd.jobs.schema import Delivery, FileSeen


def observe(path: Path) -> FileSeen | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def still_changing(work_path: Path, delivery: Delivery, grace: float) -> tuple[str, FileSeen] | None:
    """(reason, the state seen now) when the claimed document must wait; None when pre-flight may run.

    Jobs claimed before this check existed carry no recorded state: they go on to pre-flight as before.
    """
    seen = delivery.get("claimed_as")
    now = observe(work_path)
    if seen is None or now is None:
        return None  # gone or unknown: pre-flight reports a missing file with its real reason
    if now != seen:
        return "file still being written after it was claimed", now
    reason = completeness.check_file(work_path, now["size"])
    if reason and time.time() < now["mtime_ns"] / 1e9 + grace:
        return f"content incomplete: {reason}", now
    return None

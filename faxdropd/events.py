"""The catalogue of log events: every event name faxdropd emits, at which level, and what it means.

Event names are dotted ``<subject>.<what happened>``, lower case and stable: operators grep and alert on them,
so a name changes only with a note in CHANGELOG.md. Details go in keys, never in the event string. Common keys:
``job_id``, ``reference``, ``folder``, ``file`` (escaped), ``transaction_id``, ``code``, ``reason``, ``size``,
``pages``, ``sha256``. ``tests/test_events.py`` holds this table and the code to each other: an event emitted
but not listed, or listed but never emitted, or emitted at another level, fails the suite.
"""

from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    levels: tuple[str, ...]  # the levels it is logged at (some events are an error in one case, a warning in another)
    meaning: str


def _e(levels: str, meaning: str) -> Event:
    return Event(tuple(levels.split("|")), meaning)


EVENTS: dict[str, Event] = {
    # a job's life
    "job.detected": _e("info", "a new document was seen in a hot folder"),
    "job.stable": _e("info", "the document stopped changing and is about to be claimed"),
    "job.claimed": _e("info", "the document was moved into the work area and journaled"),
    "job.claim_failed": _e("warning", "the rename into the work area failed; the file stays where it is"),
    "job.uploading": _e("info", "pre-flight, routing and limits passed; the upload starts"),
    "job.submitted": _e("info", "InterFAX accepted the fax and gave its transaction id"),
    "job.unknown": _e("warning", "the submission's reply was lost; it is settled by its reference, never resent"),
    "job.reconciled": _e("info", "an unknown submission was found (or proven absent) by its reference"),
    "job.deferred": _e("info", "the job waits until a later time (limits, a pause, a transient error)"),
    "job.retried_on_purpose": _e("info", "a document put back by `faxdropd retry` is sent despite the duplicate check"),
    "job.delivered": _e("info", "the fax was delivered (or accepted, without tracking) and filed in sent/"),
    "job.failed": _e("warning", "the fax failed and the document was filed in failed/ with its receipt"),
    "job.rejected": _e("warning", "the document was refused before sending and filed in failed/ with the reason"),
    "job.crashed": _e("exception", "an unexpected error while processing a job; it is retried"),
    "job.filing_postponed": _e("warning|error", "the document could not be filed yet (folder unavailable, disk)"),
    "job.work_missing": _e("warning", "the claimed file was removed by hand; nothing could be filed"),
    "job.released": _e("warning", "a claimed file the journal does not know was given back to its hot folder"),
    "job.release_postponed": _e("warning", "orphans in a folder that is unavailable stay until the next start"),
    "job.twin_cancelled": _e("warning", "a late original of a resent fax was cancelled before it went out"),
    "job.sent_twice": _e("error", "a late original of a resent fax went out: the fax was sent twice"),
    "job.adopted": _e("warning", "a document from a dead peer's adopted area is journaled and settled by reference"),
    "job.adopted_away": _e("warning", "another host adopted this job's work area: this host sends and files nothing"),
    # the daemon
    "daemon.ready": _e("info", "the daemon started and watches its folders"),
    "instance.created": _e("info", "first start: this host's instance id is chosen and kept in the journal"),
    "instance.ready": _e("info", "this host's instance id and work areas are in use"),
    "workarea.migrated": _e("info", "a 0.1 work file this journal knows was moved into the instance's area"),
    "workarea.legacy_left": _e("warning", "0.1 work files this journal does not know were left (another host's?)"),
    "daemon.failed": _e("critical", "the daemon stopped on an error"),
    "daemon.reloading": _e("info", "SIGHUP: the config is read again"),
    "daemon.reloaded": _e("info|warning", "the new config is in force (warning: some changes wait for a restart)"),
    "daemon.reload_failed": _e("warning", "the new config was refused; the old one stays"),
    "daemon.stopping": _e("info", "SIGTERM: no new files are taken; uploads in flight finish"),
    "daemon.stopped": _e("info", "the daemon stopped cleanly"),
    "daemon.exit_now": _e("warning", "a second signal: the daemon exits at once; everything resumes at the next start"),
    "daemon.watchdog_skipped": _e("error", "a part of the daemon is stuck; systemd's watchdog was not fed"),
    "config.warning": _e("warning", "the config works but has something to fix (e.g. an inline password)"),
    "metrics.listening": _e("info", "the metrics endpoint listens"),
    "journal.write_failed": _e("critical", "the journal could not be written; the daemon exits with 74"),
    "journal.converting": _e("info", "an older journal is rewritten once to enable incremental vacuum"),
    "retention.pass": _e("info", "a retention pass: expired documents and receipts deleted, old jobs pruned"),
    "retention.failed": _e("warning", "a retention pass failed; it is tried again at the next pass"),
    "sdnotify.send_failed": _e("debug", "a notification to systemd could not be sent"),
    "sdnotify.unsupported_socket": _e("debug", "NOTIFY_SOCKET names a socket type we do not speak"),
    "operator.command": _e("info", "an operator's hold, release or cancel took effect"),
    "operator.command_failed": _e("exception", "an operator's command failed; it is marked failed"),
    # the front-desk page (faxdropd/web/)
    "web.listening": _e("info", "the front-desk page listens (web.listen)"),
    "web.failed": _e("exception", "the front-desk page's server stopped on an error; the daemon goes on"),
    "web.error": _e("exception", "a page request failed on an unexpected error (answered 500)"),
    "web.login_failed": _e("warning", "a wrong user name or password on the page (basic auth)"),
    "web.login_limited": _e("warning", "an address made too many failed logins; it waits a minute"),
    "web.csrf_refused": _e("warning", "a POST without the session's CSRF token was refused"),
    "web.action": _e("info", "an action on the page (retry, hold, release, cancel) was done, with the user"),
    "web.action_refused": _e("info", "an action on the page did not apply to the job; nothing changed"),
    # folders and the account
    "folder.up": _e("info", "a hot folder is reachable again; its files are taken up"),
    "folder.down": _e("warning", "a hot folder is unreachable; it is not scanned and nothing in it is misfiled"),
    "folder.overflow": _e("warning", "the inotify queue overflowed; every event-watched folder is listed again"),
    "account.paused": _e("error", "InterFAX refused the account (password, block, credit); sending is paused"),
    "account.resumed": _e("info", "sending resumes after an account pause"),
    # watching
    "watch.folder_down": _e("warning", "the watcher found a hot folder unusable and stops scanning it"),
    "watch.folder_back": _e("info", "the watcher found a hot folder usable again (or recreated)"),
    "watch.mode_chosen": _e("info", "`watch: auto` chose events or polling from the folder's filesystem"),
    "watch.inotify_fallback": _e("warning", "inotify limits reached: some folders are polled instead"),
    "watch.no_inotify": _e("warning", "no inotify instance could be made: event folders are polled"),
    "watch.watch_failed": _e("warning", "an inotify watch could not be set on a folder; retried"),
    "watch.observer_died": _e("warning", "the inotify observer thread died; it is restarted and folders rescanned"),
    "watch.event_failed": _e("exception", "an inotify event could not be handled; the next rescan covers it"),
    "watch.probe_hook_failed": _e("exception", "a folder probe's result could not be applied; the next cycle does"),
    "watch.move_delay_kept": _e("debug", "watchdog's move pairing delay could not be shortened"),
    "watch.unschedule_failed": _e("debug", "removing an inotify watch failed (its folder is already gone)"),
    # InterFAX
    "soap.call": _e("debug", "one SOAP call to InterFAX, with its duration and result"),
    "upload.restart": _e("info", "a chunked upload failed and starts again as a whole"),
    "upload.cancel_failed": _e("info", "CancelFileUpload of an abandoned session failed (InterFAX expires it)"),
    "tracker.query_failed": _e("warning", "a status query failed; it is repeated within the budget"),
    "tracker.rate_limited": _e("warning", "InterFAX refused a status query for the rate limit; the tracker backs off"),
    "tracker.rate_restored": _e("info", "the status-query rate halved after a -1011 is back to its full budget"),
    "tracker.crashed": _e("exception", "the delivery tracker hit an unexpected error; it goes on"),
    # the emulator (a test and demo server, not the daemon)
    "emulator.request": _e("debug", "one HTTP request to the emulator"),
    "emulator.connection_failed": _e("debug", "an emulator connection ended badly"),
    "emulator.operation_failed": _e("exception", "the emulator failed on an operation (a bug in the emulator)"),
    "emulator.query_refused": _e("info", "the emulator refused a status query, as InterFAX would"),
}

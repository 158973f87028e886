"""Events of the daemon, the page, folders, the account, watching, InterFAX and the emulator."""

from __future__ import annotations

from faxdropd.events.model import JOB, NOTHING, Event
from faxdropd.events.model import e as _e

SERVICE_EVENTS: dict[str, Event] = {
    # the daemon
    "daemon.ready": _e("info", "the daemon started and watches its folders", "folders workers url pid", NOTHING),
    "instance.created": _e(
        "info", "first start: this host's instance id is chosen and kept in the journal", "instance", NOTHING
    ),
    "instance.ready": _e("info", "this host's instance id and work areas are in use", "instance", NOTHING),
    "workarea.migrated": _e(
        "info", "a 0.1 work file this journal knows was moved into the instance's area", "job_id file", NOTHING
    ),
    "workarea.legacy_left": _e(
        "warning",
        "0.1 work files this journal does not know were left (another host's?)",
        "folder files reason",
        "start the 0.1 host's daemon once more, or move the files back into the hot folder",
    ),
    "daemon.failed": _e(
        "critical", "the daemon stopped on an error", "error", "fix what error names; systemd restarts the daemon"
    ),
    "daemon.reloading": _e("info", "SIGHUP: the config is read again", "config", NOTHING),
    "daemon.reloaded": _e(
        "info|warning",
        "the new config is in force (warning: some changes wait for a restart)",
        "folders needs_restart",
        "warning: restart the service for the keys in needs_restart",
    ),
    "daemon.reload_failed": _e(
        "warning",
        "the new config was refused; the old one stays",
        "error action",
        "fix the key named in error (`faxdropd check-config`) and reload again",
    ),
    "daemon.stopping": _e("info", "SIGTERM: no new files are taken; uploads in flight finish", "in_flight", NOTHING),
    "daemon.stopped": _e("info", "the daemon stopped cleanly", "abandoned", NOTHING),
    "daemon.exit_now": _e(
        "warning",
        "a second signal: the daemon exits at once; everything resumes at the next start",
        "signal in_flight",
        "nothing: jobs in flight are settled by reference at the next start",
    ),
    "daemon.watchdog_skipped": _e(
        "error",
        "a part of the daemon is stuck; systemd's watchdog was not fed",
        "reason action",
        "if it repeats, report it with the log around it; systemd restarts the daemon",
    ),
    "daemon.cpu_moved": _e(
        "info",
        "other work crowded the CPU the daemon's threads share: they moved together to a quieter one",
        "from_cpu to_cpu reason",
        NOTHING,
    ),
    "daemon.cpu_unpinned": _e(
        "warning",
        "the daemon's threads could not be kept on one CPU (refused, or the CPU went away): the kernel places them",
        "error action",
        "nothing; a sandbox that refuses sched_setaffinity costs some CPU per fax (the shipped unit allows it)",
    ),
    "config.warning": _e(
        "warning",
        "the config works but has something to fix (e.g. an inline password)",
        "message",
        "fix what message says when convenient",
    ),
    "metrics.listening": _e("info", "the metrics endpoint listens", "address", NOTHING),
    "journal.write_failed": _e(
        "critical",
        "the journal could not be written; the daemon exits with 74",
        "operation error action job_id reference folder file",
        "free space or fix the state directory's disk",
    ),
    "journal.converting": _e(
        "info", "an older journal is rewritten once to enable incremental vacuum", "action", NOTHING
    ),
    "retention.pass": _e(
        "info",
        "a retention pass: expired documents and receipts deleted, old jobs pruned",
        "documents receipts jobs months vacuumed_pages journal_bytes oldest_job_at seconds",
        NOTHING,
    ),
    "retention.failed": _e(
        "warning",
        "a retention pass failed; it is tried again at the next pass",
        "error action",
        "if it repeats, fix what error names (permissions on sent/ or failed/)",
    ),
    "sdnotify.send_failed": _e(
        "debug", "a notification to systemd could not be sent", "socket error", "nothing, unless systemd times out"
    ),
    "sdnotify.unsupported_socket": _e(
        "debug", "NOTIFY_SOCKET names a socket type we do not speak", "socket", "use Type=notify with systemd"
    ),
    "operator.command": _e(
        "info", "an operator's hold, release or cancel took effect", "verb target ok result", NOTHING
    ),
    "operator.command_failed": _e(
        "exception",
        "an operator's command failed; it is marked failed",
        "verb target",
        "a bug: report it with the traceback; repeat the command",
    ),
    # the front-desk page (faxdropd/web/)
    "web.listening": _e("info", "the front-desk page listens (web.listen)", "address url", NOTHING),
    "web.failed": _e(
        "exception",
        "the front-desk page's server stopped on an error; the daemon goes on",
        "",
        "restart the service to bring the page back; report the traceback",
    ),
    "web.error": _e(
        "exception",
        "a page request failed on an unexpected error (answered 500)",
        "path",
        "a bug: report it with the traceback",
    ),
    "web.login_failed": _e(
        "warning",
        "a wrong user name or password on the page (basic auth)",
        "user client",
        "nothing once; many from one client: someone is guessing",
    ),
    "web.login_limited": _e(
        "warning",
        "an address made too many failed logins; it waits a minute",
        "client",
        "check who is at that address",
    ),
    "web.csrf_refused": _e(
        "warning",
        "a POST without the session's CSRF token was refused",
        "path user client",
        "nothing once (an old tab); repeated: a page elsewhere tries to act for a user",
    ),
    "web.action": _e(
        "info",
        "an action on the page (retry, hold, release, cancel) was done, with the user",
        "action job_id file user result",
        NOTHING,
    ),
    "web.action_refused": _e(
        "info",
        "an action on the page did not apply to the job; nothing changed",
        "action job_id user reason",
        NOTHING,
    ),
    # folders and the account
    "folder.up": _e("info", "a hot folder is reachable again; its files are taken up", "folder path action", NOTHING),
    "folder.down": _e(
        "warning",
        "a hot folder is unreachable; it is not scanned and nothing in it is misfiled",
        "folder path reason action",
        "bring the share or mount back; the folder is taken up again by itself",
    ),
    "folder.overflow": _e(
        "warning",
        "the inotify queue overflowed; every event-watched folder is listed again",
        "action",
        "nothing once; often: raise fs.inotify.max_queued_events",
    ),
    "account.paused": _e(
        "error",
        "InterFAX refused the account (password, block, credit); sending is paused",
        "reason resume_in_s advice",
        "fix the account (password, credit, IP allow-list) as reason says",
    ),
    "account.resumed": _e("info", "sending resumes after an account pause", "reason", NOTHING),
    # watching
    "watch.folder_down": _e(
        "warning",
        "the watcher found a hot folder unusable and stops scanning it",
        "folder path problem",
        "fix what problem names (gone, not a directory, permissions)",
    ),
    "watch.folder_back": _e(
        "info", "the watcher found a hot folder usable again (or recreated)", "folder recreated", NOTHING
    ),
    "watch.mode_chosen": _e(
        "info", "`watch: auto` chose events or polling from the folder's filesystem", "folder fstype mode", NOTHING
    ),
    "watch.inotify_fallback": _e(
        "warning",
        "inotify limits reached: some folders are polled instead",
        "folders max_user_instances max_user_watches action",
        "raise the fs.inotify limits named in the event",
    ),
    "watch.no_inotify": _e(
        "warning",
        "no inotify instance could be made: event folders are polled",
        "error action",
        "raise fs.inotify.max_user_instances; polling works meanwhile",
    ),
    "watch.watch_failed": _e(
        "warning",
        "an inotify watch could not be set on a folder; retried",
        "path error retry_in_s",
        "if it repeats, raise fs.inotify.max_user_watches",
    ),
    "watch.observer_died": _e(
        "warning",
        "the inotify observer thread died; it is restarted and folders rescanned",
        "action",
        "nothing once; if it repeats, report it with the log around it",
    ),
    "watch.event_failed": _e(
        "exception",
        "an inotify event could not be handled; the next rescan covers it",
        "action",
        "a bug: report it with the traceback",
    ),
    "watch.probe_hook_failed": _e(
        "exception",
        "a folder probe's result could not be applied; the next cycle does",
        "action",
        "a bug: report it with the traceback",
    ),
    "watch.move_delay_kept": _e(
        "debug", "watchdog's move pairing delay could not be shortened", "", "nothing: moves pair a little later"
    ),
    "watch.unschedule_failed": _e(
        "debug", "removing an inotify watch failed (its folder is already gone)", "path", NOTHING
    ),
    # InterFAX
    "soap.call": _e("debug", "one SOAP call to InterFAX, with its duration and result", "op result seconds", NOTHING),
    "upload.restart": _e(
        "info", "a chunked upload failed and starts again as a whole", f"{JOB} attempt error", NOTHING
    ),
    "upload.cancel_failed": _e(
        "info",
        "CancelFileUpload of an abandoned session failed (InterFAX expires it)",
        f"{JOB} session error",
        NOTHING,
    ),
    "tracker.query_failed": _e(
        "warning",
        "a status query failed; it is repeated within the budget",
        "error",
        "if it repeats, check the connection to InterFAX",
    ),
    "tracker.rate_limited": _e(
        "warning",
        "InterFAX refused a status query for the rate limit; the tracker backs off",
        "backoff_s per_minute",
        "lower delivery.query_limit_per_minute or raise delivery.peers",
    ),
    "tracker.rate_restored": _e(
        "info", "the status-query rate halved after a -1011 is back to its full budget", "per_minute", NOTHING
    ),
    "tracker.crashed": _e(
        "exception",
        "the delivery tracker hit an unexpected error; it goes on",
        "",
        "a bug: report it with the traceback",
    ),
    # notifications (faxdropd/notify/)
    "notify.sent": _e(
        "info",
        "a notification (a mail, a digest, a webhook POST) was accepted by its server",
        "notification_id channel notify_event events job_id attempts",
        NOTHING,
    ),
    "notify.retry": _e(
        "warning",
        "a notification failed for now; it is retried after a jittered back-off",
        "notification_id channel job_id attempts retry_in_s error",
        "if it keeps failing, check the mail server or webhook named in error (`faxdropd notify-test`)",
    ),
    "notify.gave_up": _e(
        "error",
        "a notification failed permanently or past retry_for; it is not retried",
        "notification_id channel notify_event job_id attempts error reason",
        "tell the people it was for by hand (the receipt is in sent/ or failed/); fix the channel named in error",
    ),
    "notify.recipients_refused": _e(
        "warning",
        "the mail server refused some recipients of a mail it accepted",
        "notification_id refused",
        "correct the addresses in notify.email, the folder's notify: or the sidecar",
    ),
    "notify.sender_error": _e(
        "exception",
        "an unexpected error in the notification thread; it carries on",
        "error",
        "a bug: report it with the traceback",
    ),
    # the emulator (a test and demo server, not the daemon)
    "emulator.request": _e("debug", "one HTTP request to the emulator", "client line", NOTHING),
    "emulator.connection_failed": _e("debug", "an emulator connection ended badly", "client", NOTHING),
    "emulator.operation_failed": _e(
        "exception",
        "the emulator failed on an operation (a bug in the emulator)",
        "operation",
        "a bug in the emulator: report it with the traceback",
    ),
    "emulator.query_refused": _e(
        "info", "the emulator refused a status query, as InterFAX would", "operation error", NOTHING
    ),
}

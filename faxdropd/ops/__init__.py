"""The operator's operations (queue, show, cancel, hold, release, retry): plain functions over the config and
the journal returning typed records, rendered as text or JSON by the console (cli/) and the front-desk page."""

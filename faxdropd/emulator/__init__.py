"""The InterFAX emulator: a real HTTP server speaking faxdropd's WSDL, with a ledger and fault injection."""

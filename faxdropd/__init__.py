"""faxdropd: a watched-folder fax daemon for the InterFAX outbound SOAP service."""

__version__ = "0.1.0"

"""Talking to InterFAX: the SOAP client (the only zeep user), result codes, uploads and SendfaxEx_2 fields."""

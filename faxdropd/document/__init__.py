"""What a document is and where it goes: safe opening and pre-flight, content sniffing, fax numbers, routing."""

"""Moving and writing files durably: claims into the work area, filing into sent/ and failed/, receipts, names."""

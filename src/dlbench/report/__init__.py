"""Tables, exports and reports, read from the store (never from a live run)."""

"""Pure PO extraction: bytes and text in, candidates out. No network, no database, no clock."""

"""The records example: Goa's interceptors example, ported (see README.md)."""

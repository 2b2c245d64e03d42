"""Goa's error example (calc/divider), ported: typed errors on the wire, a default API."""

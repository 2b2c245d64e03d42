"""Goa's cookies example (session), ported: a result attribute written as a cookie."""

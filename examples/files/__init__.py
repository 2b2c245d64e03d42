"""Goa's files example, ported: a service that only serves files, and a folder besides."""

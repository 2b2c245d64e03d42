"""Clue's equivalent: context logs, traces, metrics, health checks and debug endpoints."""

"""The feed example: a server stream served as server-sent events."""

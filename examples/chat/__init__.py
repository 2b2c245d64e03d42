"""The chat example: streams over WebSocket (server, client and bidirectional)."""

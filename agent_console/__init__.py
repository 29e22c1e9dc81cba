"""The agent console: the agents' web UI and their WebSocket."""

"""tmux: a client with timeouts and batching, snapshots, specs and restore plans (no actors)."""

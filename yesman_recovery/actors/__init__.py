"""Domain actors: sessions, the tmux watcher, health checks, transactions, retries and breakers."""

"""Crash-safe storage on LMDB: checkpoints, transaction journal, audit trail."""

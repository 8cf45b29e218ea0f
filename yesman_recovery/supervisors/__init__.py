"""Supervision: child specs, the SupervisedActor base, the Supervisor actor, intensity,
backoff, clock and scheduler."""

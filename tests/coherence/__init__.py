"""Coherence of invalidation: after a successful write, no process serves the old response."""

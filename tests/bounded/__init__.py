"""Bounded under abuse and faults: integrity, fault classes, clean refreshes, memory."""

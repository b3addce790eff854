"""Poisoning-proof keys (issue 10): raw requests through every adapter."""

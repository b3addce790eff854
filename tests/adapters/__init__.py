"""Adapter tests, one package per framework (laid out like routecache/adapters)."""

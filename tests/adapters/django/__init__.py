"""Tests of the Django adapter (``routecache.adapters.django``)."""

"""Management commands of the routecache Django app."""

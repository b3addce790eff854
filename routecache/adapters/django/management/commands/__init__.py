"""``manage.py routecache`` (purge, stats)."""

"""Tests written the way a user of routecache writes them: each framework's own test
client, the README's set-up, no harness of ours in between."""

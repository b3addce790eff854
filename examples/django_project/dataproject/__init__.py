"""A minimal Django project using routecache."""

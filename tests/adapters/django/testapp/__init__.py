"""A test app with one model, for ``invalidate_on_save``."""

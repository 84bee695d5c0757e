"""Serving the champion: nightly batch recommendations and fast catalog ranking."""

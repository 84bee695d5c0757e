"""Pipeline steps as plain functions: each takes a config and a logical date and returns a summary."""

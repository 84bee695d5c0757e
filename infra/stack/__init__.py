"""The real-services stack on one machine: `python -m infra.stack up|down|status|env` (see stack.py)."""

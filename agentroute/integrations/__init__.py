"""Integrations of the router into agent frameworks (each imports its framework itself)."""

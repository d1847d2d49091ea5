"""Integrations of the router with agent frameworks (each imports its framework itself)."""

"""Integrations of agentroute with agent frameworks (each imports its framework itself)."""

"""The package's version, in a module of its own so that the telemetry (which names the
instrumentation scope ``agentroute`` with it) need not import the package it is part of.
Re-exported as ``agentroute.__version__``; keep it equal to ``version`` in pyproject.toml."""

__all__ = ["__version__"]

__version__ = "0.1.0"

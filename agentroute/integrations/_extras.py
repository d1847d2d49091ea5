"""The error an integration raises when its framework is not installed: an ImportError that
names the extra to install (a bare ``ModuleNotFoundError: No module named 'pydantic_ai'`` says
nothing about agentroute)."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(integration: str, extra: str, cause: ImportError) -> ImportError:
    """The ImportError for ``agentroute.integrations.<integration>`` imported without its
    framework (``cause``: the original error, kept as ``__cause__`` by the caller's ``from``)."""
    missing = cause.name or "its framework"
    return ImportError(
        f"agentroute.integrations.{integration} needs {missing}, which is not installed: "
        f"pip install 'agentroute[{extra}]'",
        name=cause.name,
    )

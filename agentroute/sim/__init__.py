"""The provider simulator: wire formats, faults and prompt caching on loopback."""

__all__: list[str] = []

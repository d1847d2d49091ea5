"""The provider simulator: wire formats, faults and prompt caching on loopback (DESIGN §9)."""

__all__: list[str] = []

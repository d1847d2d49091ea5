"""The provider simulator: wire formats, faults and prompt caching on loopback."""

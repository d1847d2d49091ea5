"""Shadow routing: a sample of steps is also sent to a reference tier, and the answers compared."""

__all__: list[str] = []

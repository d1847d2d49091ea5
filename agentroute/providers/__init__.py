"""Provider adapters: the terminal step of the chain."""

__all__: list[str] = []

"""Provider adapters: the terminal step of the chain."""

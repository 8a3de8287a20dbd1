"""Generation: Hypothesis strategies, the contract machine, its determinism and profiles."""

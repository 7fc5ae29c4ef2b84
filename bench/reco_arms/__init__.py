"""In-process recommendation experiment: simulated audience vs the real recommendation model."""

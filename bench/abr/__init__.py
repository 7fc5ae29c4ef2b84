"""ABR benchmark: Pensieve-faithful chunk simulator, baselines, offline optimum and runner."""

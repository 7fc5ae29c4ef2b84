"""Prequential (test-then-train) benchmark of the recommendation model on MovieLens."""

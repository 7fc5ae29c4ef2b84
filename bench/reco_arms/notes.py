"""What was measured with this harness before and after the model changes (kept by hand)."""

HISTORY = """## History

(filled in as the model changes)"""

"""Run directories on disk (atomic writes with a manifest, the single-writer lock) and exporting
a run's training data to files."""

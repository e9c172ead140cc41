"""A data owner's site: its settings, its store, its private runs, its dataset and results."""

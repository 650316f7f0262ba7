"""lincs."""

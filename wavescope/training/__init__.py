"""Models that make waves, their data and trainer, and export of their hidden states."""

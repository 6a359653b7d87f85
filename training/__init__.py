"""Dataset preparation, the training entry point and evaluation for CodeSwap's models."""

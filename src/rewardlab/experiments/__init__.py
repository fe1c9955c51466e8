"""Experiments: runs that write result directories (used by the command line)."""

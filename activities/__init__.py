"""Temporal activities: thin wrappers that hand workflow inputs to adapters and analyzers."""

"""Coordination of the agents on one workload: conflicts between their proposals and how they resolve."""

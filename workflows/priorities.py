"""How Temporal orders OptiInfra's work on a shared task queue (Task Queue Priority and Fairness): what a
person started or waits on goes before fleet scans, and within a priority each customer gets its share of
the workers (fairness keyed by customer), so one customer's 1,000-workload scan cannot starve another
customer's approval. Children and activities inherit their workflow's priority.

Needs the server's `matching.enableFairness` (the embedded engine sets it; see deploy/README.md for
self-hosted clusters and Temporal Cloud); without it, priorities still order and fairness is FIFO."""

from temporalio.common import Priority

INTERACTIVE = 2
"""Runs a person started (API, CLI, portal) and what they wait on."""
BATCH = 4
"""Fleet scans' joint optimizations."""


def interactive(customer_id: str) -> Priority:
    return Priority(priority_key=INTERACTIVE, fairness_key=customer_id)


def batch(customer_id: str) -> Priority:
    return Priority(priority_key=BATCH, fairness_key=customer_id)

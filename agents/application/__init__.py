"""The Application agent: what a workload's own requests say about prompt efficiency, context windows,
model routing and RAG retrieval, from its tier-1 request log (and tier-2 aggregates when shared)."""

"""A workload's KV-cache reuse, read from its prefix trace and replayed through kvtier."""

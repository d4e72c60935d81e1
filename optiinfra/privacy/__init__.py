"""Privacy tiers of the Application agent's inputs, enforced by types and access paths: tier 1 sees token
counts, latencies, errors, model and context size; tier 2 adds aggregated statistics; tier 3 (opt-in per
customer) adds prompt content, encrypted at rest and audited on every read."""

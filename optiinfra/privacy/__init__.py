"""Privacy tiers of the Application agent's inputs, enforced by types and access paths: tier 1 sees token
counts, latencies, errors, model and context size; tier 2 adds aggregated statistics; tier 3 (opt-in per
customer) adds prompt content, encrypted at rest and audited on every read.

- `tiers`, `records`, `aggregates`: the tiers and what each may carry (`TokenRecord` holds no text).
- `consent`: a customer's recorded tier, and changing it (who, when; leaving tier 3 deletes content).
- `tier1`, `tier2`, `tier3`: each tier's writer and view; a view of a lower tier cannot name the tables,
  or hold the key, of a higher one.
- `views.open_view`: the view matching the customer's recorded tier.
- `crypto`: the Fernet cipher under OPTIINFRA_PROMPT_ENCRYPTION_KEY; `errors`: why something was refused."""

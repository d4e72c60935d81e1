"""Vector search for the agents: a Qdrant client per process (local files by default, a server when one
is configured) and text embedders, so any part of the system can store and find things by meaning."""

"""Control-plane services shared by the API and the CLI: start optimizations, decide on recommendations."""

"""FastAPI control plane: routes translate HTTP into workflow starts, signals, queries and store reads."""

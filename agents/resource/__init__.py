"""The Resource agent: GPU memory pressure, KV-cache tiering, context-window sizing, OOM prevention."""

"""The embedded stack: engine, twin cloud, store, worker and API in one process, no setup needed."""

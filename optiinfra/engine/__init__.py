"""The workflow engine: connecting to Temporal, and the embedded dev server."""

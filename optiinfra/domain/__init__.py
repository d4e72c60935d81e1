"""Domain models shared by every layer: pydantic, serialisable through Temporal and the API."""

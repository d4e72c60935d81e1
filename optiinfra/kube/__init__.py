"""Kubernetes: the Deployments adapter (official client) and vLLM argument helpers."""

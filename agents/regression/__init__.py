"""Regression defense: a workload's serving compared with its baseline by rules, and the root cause of a
confirmed regression written through the inference layer."""

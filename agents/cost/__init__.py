"""Cost agent: pure analyzers that turn a workload snapshot into cost-saving proposals."""

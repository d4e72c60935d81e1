"""Adapters to the cloud provider: the only code that calls EC2 and CloudWatch."""

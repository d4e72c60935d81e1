"""Adapters to the cloud provider: the only code that calls EC2, Auto Scaling and CloudWatch."""

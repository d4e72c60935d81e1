"""The Application agent's inputs read from files: tier-1 request logs and the model price table."""

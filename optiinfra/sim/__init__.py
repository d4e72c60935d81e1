"""The embedded twin of the cloud: a moto server seeded with a demo fleet and its utilization history."""

"""Bounds every stored count respects: the store's integer columns are 32-bit on PostgreSQL."""

STORED_INT_MAX = 2**31 - 1

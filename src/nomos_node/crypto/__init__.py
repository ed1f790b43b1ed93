"""Hashing and key material of the node."""

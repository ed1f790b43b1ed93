"""Cryptarchia consensus: slot clock, epochs, BLS VRF lottery, proof of leadership, blocks and the chain engine."""

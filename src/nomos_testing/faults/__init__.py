"""Faults as data (`model.Fault`), schedules generated from a seed (`schedule`); the nemesis workload that
applies them is `workloads/nemesis.py` (docs/faults.md)."""

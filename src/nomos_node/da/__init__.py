"""Data availability services of the node (docs/data-availability.md, "Node services"): the static membership
of session 0, share storage, verification and replication, sampling, and the executor's dispersal."""

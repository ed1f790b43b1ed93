"""nomos-testing: run one scenario unchanged on local processes, Docker Compose or Kubernetes."""

__version__ = "0.1.0"

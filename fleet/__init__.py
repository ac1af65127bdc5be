"""fleet: replace Kubernetes clusters blue/green instead of upgrading them in place."""

__version__ = "0.1.0"

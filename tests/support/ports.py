"""Free loopback ports for the tests (one definition, in deploy/processes.py)."""

from deploy.processes import free_port

__all__ = ["free_port"]

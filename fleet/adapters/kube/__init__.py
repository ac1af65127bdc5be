"""The Kubernetes adapters: the only package that imports the ``kubernetes`` client."""

from fleet.adapters.kube.client import ClusterClient, parse_kubeconfig
from fleet.adapters.kube.gate import Backoff, FluxHealthGate

__all__ = ["Backoff", "ClusterClient", "FluxHealthGate", "parse_kubeconfig"]

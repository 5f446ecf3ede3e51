"""kubereach: explains why kubectl can or cannot reach a Kubernetes API server."""

__version__ = "0.1.0"

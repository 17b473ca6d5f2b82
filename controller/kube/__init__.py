"""Everything the controller does in Kubernetes (see docs/kubernetes.md)."""

"""The Kubernetes side of the control plane, wired: controllers on the real API, fed by the log."""

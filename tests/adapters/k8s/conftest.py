"""The Kubernetes adapter tests use the suite-wide kube-apiserver fixtures (``tests/kube.py``)."""

from __future__ import annotations

from tests.kube import Kubectl, KubectlResult

__all__ = ["Kubectl", "KubectlResult"]

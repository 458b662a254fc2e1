"""metalstream's CustomResourceDefinitions: Metal3's kinds (BMO, IPAM, CAPM3), declared in Python.

``catalog.ALL`` lists every ``CrdDeclaration``; ``crd_install`` applies them to a cluster and
``python -m adapters.k8s.crds`` writes them to ``deploy/crds``. The schemas are wire-compatible
with Metal3, so Metal3 manifests and clients work unchanged; rules Metal3 enforces in admission
webhooks are CEL rules here wherever the object alone decides them.
"""

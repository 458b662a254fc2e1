"""The IP address manager: Metal3's ``ipam.metal3.io/v1alpha1`` IPPool, IPClaim and IPAddress on the
``ippool`` aggregate.

Pure modules (``manifest``, ``status``, ``addresses``) turn objects into commands and pool states
into status and IPAddress objects, and are tested without a server; ``controller`` makes the
decisions against the ``ports``, and ``cluster`` implements them on the runtime of ``adapters.k8s``.
"""

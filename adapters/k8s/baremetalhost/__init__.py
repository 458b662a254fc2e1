"""The BareMetalHost controller: Metal3's ``metal3.io/v1alpha1`` host API on the host aggregate.

Pure mapping modules (``manifest``, ``annotations``, ``status``, ``conditions``, ``notices``) turn
objects into commands and states into status, and are tested without a server; ``controller``
and ``projector`` do the I/O through the generic runtime of ``adapters.k8s``.
"""

"""The Cluster API Metal3 controllers: Metal3Machine, the data template chain, Metal3Cluster and
Metal3Remediation.

Pure mapping modules (``names``, ``manifests``, ``hostspec``, ``status``) turn objects into
commands and states into patches and status, and are tested without a server; the controllers
(``machines``, ``templates``, ``datas``, ``clusters``, ``remediations``) decide what to do
through the small protocols in ``ports``; ``cluster`` implements those on the runtime of
``adapters.k8s``.
"""

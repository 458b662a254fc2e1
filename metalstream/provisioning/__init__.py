"""The provisioner wired into metalstream: host events drive Ironic, Ironic's answers become events.

``running`` runs it (``run_provisioner``), ``drivers`` maps BMC addresses to Ironic drivers,
``observations`` records what the provisioner sees through the command handler, and
``static_secrets`` stands in for Kubernetes Secrets where there is no cluster.
"""

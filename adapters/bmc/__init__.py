"""Direct access to baseboard management controllers (Redfish through sushy, IPMI through pyghmi).

Modules by role: ``addresses`` (what ``spec.bmc.address`` means, Metal3-exact), ``credentials``,
``errors`` (transient vs permanent), ``ports`` (the client Protocols), ``redfish`` and ``ipmi``
(the clients), ``inventory`` (HardwareDetails), ``observing`` (results as observation values).
"""

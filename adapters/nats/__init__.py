"""The NATS JetStream adapter: the connection, the event store (``eventstore`` and the modules it
wires together) and projection checkpoints."""

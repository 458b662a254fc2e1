"""What an operator sees of a running control plane: Prometheus metrics, health and readiness.

``metrics`` owns the metric families (Metal3's names for host metrics, ``metalstream_*`` for the
event store) on a private registry and derives the host metrics from host states;
``instrumented`` wraps the event store and the command handler so they are measured without
knowing about metrics; ``health`` serves ``/healthz``, ``/readyz`` and ``/metrics`` over HTTP.
"""

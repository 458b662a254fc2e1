"""The pure domain of metalstream: events, aggregates and the ports adapters implement.

Nothing in this package performs I/O, reads a clock or draws a random number. Time, ids and
jitter arrive inside commands, so every decision is reproducible from the event log alone.
import-linter enforces that no adapter, projection or I/O library is imported from here.
"""

"""Subject naming: which subject holds an aggregate's events, and how to read the key back.

One subject per aggregate makes JetStream's per-subject last sequence the aggregate's
optimistic-concurrency token, and lets a reader filter the log by aggregate type with a wildcard.
Ids ``<namespace>/<name>`` take two tokens (so ``metalstream.host.<ns>.>`` selects a namespace);
any other id is one token.

Tokens are percent-escaped reversibly because NATS gives ``.``, ``*`` and ``>`` a meaning and
forbids whitespace, while Kubernetes names may contain dots (a BareMetalHost called
``node-1.rack-2``). ``%`` itself is escaped so decoding is unambiguous, and everything outside
printable ASCII is escaped as UTF-8 bytes so subjects stay plain ASCII.
"""

from __future__ import annotations

import re
from typing import Final

from adapters.nats.settings import StoreSettings
from core.ids import AggregateKey

_SAFE: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - {".", "*", ">", "%"}
_ALL_SAFE: Final = re.compile(r"[\x21-\x24\x26-\x29\x2B-\x2D\x2F-\x3D\x3F-\x7E]+")


def escape_token(text: str) -> str:
    """Make ``text`` usable as exactly one subject token (reversible with ``unescape_token``)."""
    if not text:
        msg = "a subject token cannot be empty"
        raise ValueError(msg)
    if _ALL_SAFE.fullmatch(text):
        return text
    parts: list[str] = []
    for ch in text:
        if ch in _SAFE:
            parts.append(ch)
        else:
            parts.extend(f"%{byte:02X}" for byte in ch.encode())
    return "".join(parts)


def unescape_token(token: str) -> str:
    """Reverse ``escape_token``; raise ``ValueError`` on a malformed escape."""
    if "%" not in token:
        return token
    out = bytearray()
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "%":
            pair = token[i + 1 : i + 3]
            if len(pair) != 2:
                msg = f"truncated escape in subject token {token!r}"
                raise ValueError(msg)
            out.append(int(pair, 16))
            i += 3
        else:
            out.extend(ch.encode())
            i += 1
    return out.decode()


class SubjectLayout:
    """Event and dead-letter subjects for one store configuration."""

    def __init__(self, settings: StoreSettings) -> None:
        self.prefix = settings.subject_prefix
        self.dead_letter_prefix = settings.dead_letter_prefix
        self.all_events = f"{self.prefix}.>"
        """Wildcard matching every event subject (the event stream's subject)."""
        self.all_dead_letters = f"{self.dead_letter_prefix}.>"
        """Wildcard matching every dead-letter subject (the dead-letter stream's subject)."""
        self._prefix_dot = self.prefix + "."

    def aggregate(self, key: AggregateKey) -> str:
        """The subject holding the events of ``key``."""
        return f"{self._prefix_dot}{escape_token(key.type)}.{self._id_tokens(key.id)}"

    def aggregate_type(self, aggregate_type: str | None) -> str:
        """A filter for every event of one aggregate type, or of all types for None."""
        if aggregate_type is None:
            return self.all_events
        return f"{self._prefix_dot}{escape_token(aggregate_type)}.>"

    def parse(self, subject: str) -> AggregateKey:
        """The aggregate an event subject belongs to; ``ValueError`` if it is not one."""
        if not subject.startswith(self._prefix_dot):
            msg = f"subject {subject!r} is not under {self.prefix!r}"
            raise ValueError(msg)
        tokens = subject[len(self._prefix_dot) :].split(".")
        if len(tokens) == 2:
            return AggregateKey(type=unescape_token(tokens[0]), id=unescape_token(tokens[1]))
        if len(tokens) == 3:
            namespace, name = unescape_token(tokens[1]), unescape_token(tokens[2])
            return AggregateKey(type=unescape_token(tokens[0]), id=f"{namespace}/{name}")
        msg = f"subject {subject!r} is not <prefix>.<type>.<id> or <prefix>.<type>.<namespace>.<name>"
        raise ValueError(msg)

    def dead_letter(self, reader: str, subject: str) -> str:
        """Where ``reader`` dead-letters a message that was stored on ``subject``."""
        rest = subject[len(self._prefix_dot) :] if subject.startswith(self._prefix_dot) else subject
        return f"{self.dead_letter_prefix}.{escape_token(reader)}.{rest}"

    @staticmethod
    def _id_tokens(aggregate_id: str) -> str:
        namespace, sep, name = aggregate_id.partition("/")
        if sep and namespace and name:
            return f"{escape_token(namespace)}.{escape_token(name)}"
        return escape_token(aggregate_id)

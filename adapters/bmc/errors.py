"""The BMC adapter's error tree: one root, split by what the caller should do next.

Every failure that leaves this package is a ``BmcError``. Its two branches carry the retry decision
as a type (style rule 15): ``BmcTransientError`` means "the same request may work later" (the BMC
is unreachable, slow, overloaded or answered 5xx), ``BmcPermanentError`` means "retrying the same
request cannot help" (wrong credentials, untrusted certificate, missing system, an operation the
BMC does not offer, a bad address). The caller (the host's command runner) picks the backoff; the
adapter never sleeps and retries on its own beyond what the client libraries already do.

Third-party exceptions (sushy, requests, pyghmi) are wrapped where they are caught, with
``raise ... from e``. Messages are written for the person reading ``kubectl describe``: they name
the BMC address and the operation, and never contain a username or password; ``redact`` is applied
to any text that came from a library before it becomes part of a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Literal

ErrorKind = Literal["transient", "permanent"]

_MAX_DETAIL = 300


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redact(text: str, secrets: Iterable[str]) -> str:
    """``scrub`` and cap the length, for library text that becomes part of an error message."""
    text = scrub(text, secrets)
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "..."
    return text


class BmcError(Exception):
    """Root of every error raised by the BMC adapter."""

    kind: ClassVar[ErrorKind] = "permanent"
    """Whether retrying the same request later can succeed."""
    reason: ClassVar[str] = "bmc_error"
    """A short, stable code for events and metrics (``snake_case``)."""

    def __init__(self, message: str, *, address: str = "", operation: str = "") -> None:
        self.address = address
        self.operation = operation
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class BmcTransientError(BmcError):
    """The request may succeed if repeated later; callers back off and retry."""

    kind: ClassVar[ErrorKind] = "transient"
    reason: ClassVar[str] = "transient"


class BmcUnreachable(BmcTransientError):
    """No connection could be made: refused, no route, name not resolved, no answer at all."""

    reason: ClassVar[str] = "unreachable"


class BmcTimeout(BmcTransientError):
    """The BMC accepted the connection but did not finish the operation within its time budget."""

    reason: ClassVar[str] = "timeout"


class BmcServerError(BmcTransientError):
    """The BMC answered with a server-side failure (HTTP 5xx, IPMI "node busy"-class codes)."""

    reason: ClassVar[str] = "server_error"


class BmcBusy(BmcTransientError):
    """The BMC refused because of its current state (HTTP 409/503, IPMI 0xc0), not the request."""

    reason: ClassVar[str] = "busy"


class BmcPermanentError(BmcError):
    """Repeating the same request cannot succeed until someone changes something."""

    kind: ClassVar[ErrorKind] = "permanent"
    reason: ClassVar[str] = "permanent"


class BmcAuthenticationFailed(BmcPermanentError):
    """The BMC rejected the credentials (HTTP 401/403, IPMI RAKP failure)."""

    reason: ClassVar[str] = "authentication_failed"


class BmcTlsVerificationFailed(BmcPermanentError):
    """The TLS handshake failed, usually because the BMC certificate is not trusted.

    Set ``disableCertificateVerification`` on the host, or give the BMC a trusted certificate.
    """

    reason: ClassVar[str] = "tls_verification_failed"


class BmcSystemNotFound(BmcPermanentError):
    """The BMC has no system at the path given in the address (HTTP 404 on the system)."""

    reason: ClassVar[str] = "system_not_found"


class BmcUnsupportedOperation(BmcPermanentError):
    """The BMC does not offer the operation or value (not advertised, IPMI 0xc1/0xcc)."""

    reason: ClassVar[str] = "unsupported_operation"


class BmcRequestRejected(BmcPermanentError):
    """The BMC rejected the request itself (HTTP 4xx other than the cases above)."""

    reason: ClassVar[str] = "request_rejected"


class BmcConfigurationError(BmcPermanentError):
    """The host's BMC settings are unusable as written; nothing was sent to the BMC."""

    reason: ClassVar[str] = "configuration_error"


class UnknownBmcTypeError(BmcConfigurationError):
    """The address scheme names no supported BMC type (including the schemes Metal3 removed)."""

    reason: ClassVar[str] = "unknown_bmc_type"

    def __init__(self, address: str, bmc_type: str) -> None:
        self.bmc_type = bmc_type
        super().__init__(f"Unknown BMC type '{bmc_type}' for address {address}", address=address)


class InvalidBmcAddressError(BmcConfigurationError):
    """The address is empty or cannot be parsed, or its host is neither an IP nor a DNS name."""

    reason: ClassVar[str] = "invalid_address"


class CredentialsValidationError(BmcConfigurationError):
    """The credentials Secret lacks a username or password (after trimming whitespace)."""

    reason: ClassVar[str] = "invalid_credentials"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"Validation error with BMC credentials: {detail}")

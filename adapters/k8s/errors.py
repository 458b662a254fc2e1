"""What can go wrong talking to the Kubernetes API, as types a controller can act on.

kubernetes-asyncio raises ``ApiException`` for every refusal and lets aiohttp's exceptions through
for everything else; neither says what to *do*. The runtime turns each answer into one of these,
and callers decide by type, never by message:

* ``NotFound`` (404): the object is gone. Stop working on it; a status write gives up quietly.
* ``Conflict`` (409): someone wrote the object since it was read. Re-read, decide again, retry.
  ``AlreadyExists`` is a create whose name is taken; ``PreconditionFailed`` is a JSON patch whose
  ``test`` operation failed (the server answers that with a bare 422, see ``from_status``).
* ``Gone`` (410): a ``resourceVersion`` or ``continue`` token has expired. List again.
* ``Invalid`` (422): the object breaks the schema or a validation rule; the message carries the
  server's field causes, so it names the field to fix.
* ``Unreachable``: no answer in time, or the connection failed (refused, reset, TLS). Retry later.
* ``ApiError``: any other refusal (401, 403, 429, 5xx ...), with ``status`` and ``reason``.
* ``KubeConfigError``: the kubeconfig or in-cluster credentials cannot be used.

Text taken from the server is cut to ``MAX_MESSAGE_CHARS`` before it reaches errors and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

MAX_MESSAGE_CHARS: Final = 2000
"""Server-provided text is cut after this many characters."""


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level cause from a ``Status``'s ``details.causes``."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class KubeError(Exception):
    """Root of every error the Kubernetes adapter raises."""


class KubeConfigError(KubeError):
    """The kubeconfig file, its context or the in-cluster service account cannot be used."""


class Unreachable(KubeError):
    """The API server gave no answer in time, or the connection to it failed."""


class ApiError(KubeError):
    """The API server answered with a failure ``Status``."""

    def __init__(
        self, what: str, *, status: int, reason: str, message: str, causes: tuple[Cause, ...] = ()
    ) -> None:
        self.what = what
        self.status = status
        self.reason = reason
        self.message = truncate(message)
        self.causes = causes
        extra = [str(cause) for cause in causes if cause.message not in message]
        detail = f"{self.message} ({'; '.join(extra)})" if extra else self.message
        super().__init__(truncate(f"{what}: {status} {reason}: {detail}"))

    @property
    def retriable(self) -> bool:
        """Whether the same request may succeed later unchanged (429 and 5xx)."""
        return self.status == 429 or self.status >= 500


class NotFound(ApiError):
    """HTTP 404: the object (or its namespace, or its kind) does not exist."""


class Conflict(ApiError):
    """HTTP 409: the object changed since it was read (stale ``resourceVersion``)."""


class AlreadyExists(Conflict):
    """HTTP 409 with reason ``AlreadyExists``: a create whose name is taken."""


class PreconditionFailed(Conflict):
    """A JSON patch's ``test`` operation failed: the object changed since it was read."""


class Gone(ApiError):
    """HTTP 410: the ``resourceVersion`` (or ``continue`` token) is too old; list again."""


class Invalid(ApiError):
    """HTTP 422: the object is invalid; ``causes`` name the fields."""


_BY_STATUS: Final[dict[int, type[ApiError]]] = {404: NotFound, 409: Conflict, 410: Gone, 422: Invalid}


class _Status(msgspec.Struct, kw_only=True):
    """The parts of a ``meta/v1`` Status the adapter reads (everything is optional on the wire)."""

    code: int = 0
    reason: str = ""
    message: str = ""
    details: dict[str, Any] = msgspec.field(default_factory=dict)


_STATUS_DECODER: Final = msgspec.json.Decoder(_Status)


def from_status(what: str, status: int, body: bytes | dict[str, Any]) -> ApiError:
    """The error for a failure answer: ``status`` is the HTTP code, ``body`` the ``Status`` (raw or parsed).

    ``what`` says what was attempted (``"PATCH /apis/..."``) and starts the message.
    """
    try:
        parsed = _STATUS_DECODER.decode(body) if isinstance(body, bytes) else msgspec.convert(body, _Status)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else repr(body)
        parsed = _Status(code=status, reason="", message=text.strip())
    code = parsed.code or status
    causes = tuple(
        Cause(
            field=str(raw.get("field", "")),
            reason=str(raw.get("reason", "")),
            message=str(raw.get("message", "")),
        )
        for raw in parsed.details.get("causes") or ()
        if isinstance(raw, dict)
    )
    reason = parsed.reason or _default_reason(code)
    cls = _BY_STATUS.get(code, ApiError)
    if cls is Conflict and reason == "AlreadyExists":
        cls = AlreadyExists
    return cls(what, status=code, reason=reason, message=parsed.message, causes=causes)


def unreachable(what: str, error: BaseException) -> Unreachable:
    """An ``Unreachable`` saying what was attempted and how the transport failed."""
    detail = str(error) or type(error).__name__
    return Unreachable(truncate(f"{what}: no answer from the API server ({type(error).__name__}: {detail})"))


def _default_reason(code: int) -> str:
    return {404: "NotFound", 409: "Conflict", 410: "Gone", 422: "Invalid"}.get(code, "Failure")

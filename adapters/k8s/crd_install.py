"""Install metalstream's CRDs into a cluster and wait until the API server serves them.

Each CRD is sent with server-side apply under one field manager, forced: the declarations in
``adapters.k8s.crds`` are the source of truth, so installing again is a no-op when nothing
changed and an in-place upgrade when something did, whoever edited the CRD last. A CRD is usable
only once the API server reports ``NamesAccepted`` (its plural and short names clash with no
other CRD) and ``Established`` (its endpoints are served); ``install`` returns only then, or
raises ``CrdInstallError`` naming the CRD and the API server's reason: a refused schema, a
name clash, or no readiness within the time allowed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any, Final

from kubernetes_asyncio.client import ApiClient, ApiextensionsV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from adapters.k8s.crds import catalog
from adapters.k8s.crds.declaring import CrdDeclaration

FIELD_MANAGER: Final = "metalstream"
APPLY_PATCH: Final = "application/apply-patch+yaml"
"""Server-side apply; the body is JSON, which is YAML."""
READY_CONDITIONS: Final = ("NamesAccepted", "Established")
_POLL: Final = 0.1
_MAX_MESSAGE: Final = 2000


class CrdInstallError(RuntimeError):
    """A CRD could not be installed; ``crd`` is its name (``<plural>.<group>``)."""

    def __init__(self, crd: str, problem: str) -> None:
        super().__init__(f"CRD {crd}: {problem}")
        self.crd = crd
        self.problem = problem


async def install(
    api: ApiClient,
    declarations: Iterable[CrdDeclaration] = catalog.ALL,
    *,
    ready_timeout: float = 60.0,
    request_timeout: float = 10.0,
) -> tuple[str, ...]:
    """Apply every CRD in ``declarations``, then wait until each is accepted and established.

    ``ready_timeout`` bounds the wait for each CRD's readiness; ``request_timeout`` bounds each API
    call (seconds). Returns the names of the installed CRDs, in order.
    """
    extensions = ApiextensionsV1Api(api)
    chosen = tuple(declarations)
    for declaration in chosen:
        await _apply(extensions, declaration, request_timeout)
    for declaration in chosen:
        await _wait_ready(extensions, declaration.name, ready_timeout, request_timeout)
    return tuple(declaration.name for declaration in chosen)


async def _apply(extensions: ApiextensionsV1Api, declaration: CrdDeclaration, request_timeout: float) -> None:
    # The client's type stubs omit ``_content_type``, which selects server-side apply.
    apply: dict[str, Any] = {"_content_type": APPLY_PATCH, "_request_timeout": request_timeout}
    try:
        async with asyncio.timeout(request_timeout):
            await extensions.patch_custom_resource_definition(
                declaration.name, declaration.manifest(), field_manager=FIELD_MANAGER, force=True, **apply
            )
    except ApiException as error:
        raise CrdInstallError(declaration.name, f"the API server refused it: {_reason(error)}") from error
    except TimeoutError as error:
        raise CrdInstallError(declaration.name, f"no answer to apply within {request_timeout:g}s") from error


async def _wait_ready(
    extensions: ApiextensionsV1Api, name: str, ready_timeout: float, request_timeout: float
) -> None:
    seen: dict[str, tuple[str, str]] = {}
    try:
        async with asyncio.timeout(ready_timeout):
            while True:
                seen = await _conditions(extensions, name, request_timeout)
                names = seen.get("NamesAccepted")
                if names is not None and names[0] == "False":
                    raise CrdInstallError(name, f"names not accepted: {names[1]}")
                if all(seen.get(kind, ("", ""))[0] == "True" for kind in READY_CONDITIONS):
                    return
                await asyncio.sleep(_POLL)
    except TimeoutError as error:
        state = ", ".join(f"{kind}={status} ({message})" for kind, (status, message) in sorted(seen.items()))
        raise CrdInstallError(
            name, f"not established within {ready_timeout:g}s; conditions: {state or 'none'}"
        ) from error


async def _conditions(
    extensions: ApiextensionsV1Api, name: str, request_timeout: float
) -> dict[str, tuple[str, str]]:
    """The CRD's status conditions: type -> (status, message)."""
    try:
        async with asyncio.timeout(request_timeout):
            crd = await extensions.read_custom_resource_definition(name, _request_timeout=request_timeout)
    except ApiException as error:
        raise CrdInstallError(name, f"cannot read it back: {_reason(error)}") from error
    # The stubs promise a status with conditions; a CRD the server has just created has neither yet.
    found: list[Any] = getattr(crd.status, "conditions", None) or []
    return {str(condition.type): (str(condition.status), str(condition.message or "")) for condition in found}


def _reason(error: ApiException) -> str:
    """The API server's own message (e.g. which schema field is invalid), cut to a readable length."""
    text = f"HTTP {error.status} {error.reason or ''}".strip()
    body: object = error.body  # typed bytes, but the client hands over the decoded text
    if body:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        try:
            message = json.loads(raw).get("message", raw)
        except (ValueError, AttributeError):
            message = raw
        text = f"{text}: {message}"
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."

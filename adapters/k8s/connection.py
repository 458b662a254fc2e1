"""One authenticated, rate-limited connection to the API server, speaking raw JSON.

Everything else in the runtime (informers, object helpers, the status writer, the event recorder)
sends its requests through ``Connection.request`` and ``Connection.stream``. Those take a REST
path (from ``resources.Resource.path``) and return plain JSON dicts, never kubernetes-asyncio
models: custom resources have no models, and a dict is what the mapping code reads anyway.

kubernetes-asyncio still does the parts worth reusing: reading a kubeconfig (contexts, client
certificates, token files, exec plugins) or the in-cluster service account, TLS, and the bearer
token on each request (``ApiClient.call_api`` with ``_preload_content=False`` returns the raw
aiohttp response). Its exceptions never leave this module: answers become ``errors.ApiError``
subclasses and transport failures ``errors.Unreachable``.

Rate limiting: ``connect`` builds a ``_RateLimitedApiClient``, a subclass of ``ApiClient`` whose
``request`` method (the single point every ``call_api`` goes through, whether from this module,
the generated typed APIs or the dynamic client) first takes a token from a ``ratelimit.TokenBucket``
of ``qps``/``burst``. Starting a watch takes a token too; reading its stream does not.

Timeouts: every request is bounded by ``asyncio.timeout``, by default ``request_timeout``; the
budget includes any wait for a rate-limit token, like a client-go request context. A stream's
budget covers opening it; its body is bounded by the caller's ``limit``.

Credentials that expire: the in-cluster service-account token is re-read by kubernetes-asyncio's
own hook (once a minute); an exec plugin's token (kubeconfig ``users[].user.exec``) is renewed
by ``_exec_credential_refresher`` when it is about to expire.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias
from urllib.parse import quote

import aiohttp
import msgspec
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, KubeConfigMerger

from adapters.k8s import errors
from adapters.k8s.ratelimit import TokenBucket

JsonObject: TypeAlias = dict[str, Any]
"""A Kubernetes object (or list, or Status) as decoded JSON."""
QueryValue: TypeAlias = str | int | bool | None
Query: TypeAlias = Mapping[str, QueryValue]

JSON: Final = "application/json"
MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"

_TRANSPORT_ERRORS: Final = (aiohttp.ClientError, TimeoutError, OSError)
_DECODER: Final = msgspec.json.Decoder(dict[str, Any])


class ConnectionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the API server is, how to authenticate, and how hard to push it."""

    kubeconfig: str | None = None
    """Path of a kubeconfig file; ``None`` uses the pod's service account (in-cluster)."""
    context: str | None = None
    """Context of the kubeconfig to use; ``None`` uses its ``current-context``."""
    qps: float = 20.0
    """Requests per second on average, client-side (token bucket refill rate)."""
    burst: int = 30
    """Requests that may be sent at once before ``qps`` applies (token bucket size)."""
    request_timeout: float = 30.0
    """Seconds any single request may take, including its wait for a rate-limit token."""
    field_manager: str = "metalstream"
    """``fieldManager`` sent with every write, so ``managedFields`` name this controller."""
    user_agent: str = "metalstream"

    def __post_init__(self) -> None:
        for name, value, ok, rule in (
            ("qps", self.qps, self.qps > 0, "a positive number of requests per second"),
            ("burst", self.burst, self.burst >= 1, "at least 1"),
            (
                "request_timeout",
                self.request_timeout,
                self.request_timeout > 0,
                "a positive number of seconds",
            ),
        ):
            if not ok:
                msg = f"k8s connection setting {name}={value!r} is invalid: set it to {rule}"
                raise ValueError(msg)


class _RateLimitedApiClient(ApiClient):
    """An ``ApiClient`` whose every HTTP request first takes a token from ``limiter``."""

    def __init__(self, configuration: Configuration, limiter: TokenBucket) -> None:
        super().__init__(configuration)
        self.limiter = limiter
        self.requests: collections.Counter[str] = collections.Counter()

    async def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: Any = None,
        post_params: Any = None,
        body: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        await self.limiter.acquire()
        self.requests[method] += 1
        return await super().request(
            method,
            url,
            query_params=query_params,
            headers=headers,
            post_params=post_params,
            body=body,
            _preload_content=_preload_content,
            _request_timeout=_request_timeout,
        )


class Connection:
    """Requests to one API server; made by ``connect``, which also closes it."""

    def __init__(self, api_client: _RateLimitedApiClient, settings: ConnectionSettings) -> None:
        self.api_client: ApiClient = api_client
        """The underlying kubernetes-asyncio client (rate-limited too), for the generated APIs."""
        self.settings = settings
        self.limiter = api_client.limiter
        self._api = api_client

    @property
    def host(self) -> str:
        """The API server's base URL."""
        return str(self._api.configuration.host)

    @property
    def requests(self) -> collections.Counter[str]:
        """HTTP requests sent so far, by method (``GET``, ``PATCH`` ...)."""
        return self._api.requests

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = JSON,
        limit: float | None = None,
    ) -> JsonObject:
        """Send one request and return the decoded JSON answer.

        Raises ``errors.ApiError`` (a subclass for 404, 409, 410, 422) for a failure answer and
        ``errors.Unreachable`` when no answer came within ``limit`` seconds (default ``request_timeout``).
        """
        what = f"{method} {path}"
        budget = self.settings.request_timeout if limit is None else limit
        try:
            async with asyncio.timeout(budget):
                response = await self._call(method, path, query, body, content_type, budget)
                try:
                    status, data = response.status, await response.read()
                finally:
                    response.release()
        except _TRANSPORT_ERRORS as error:
            raise errors.unreachable(what, error) from error
        if not 200 <= status < 300:
            raise errors.from_status(what, status, data)
        return _decode(what, data)

    @asynccontextmanager
    async def stream(
        self, path: str, *, query: Query | None = None, limit: float
    ) -> AsyncIterator[AsyncIterator[JsonObject]]:
        """Open a stream of newline-delimited JSON (a watch); yield an iterator over its objects.

        Opening is bounded by ``request_timeout``, the whole stream by ``limit`` seconds (after
        which reading raises ``errors.Unreachable``). A failure answer raises as in ``request``.
        """
        what = f"GET {path}"
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                response = await self._call("GET", path, query, None, JSON, limit)
        except _TRANSPORT_ERRORS as error:
            raise errors.unreachable(what, error) from error
        try:
            if response.status != 200:
                try:
                    data = await response.read()
                except _TRANSPORT_ERRORS as error:
                    raise errors.unreachable(what, error) from error
                raise errors.from_status(what, response.status, data)
            lines = _lines(what, response)
            try:
                yield lines
            finally:
                await lines.aclose()
        finally:
            response.close()

    async def _call(
        self, method: str, path: str, query: Query | None, body: Any, content_type: str, limit: float
    ) -> aiohttp.ClientResponse:
        response: aiohttp.ClientResponse = await self._api.call_api(
            path,
            method,
            query_params=_query_tuples(query),
            header_params={"Accept": JSON, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(total=limit),
        )
        return response


@asynccontextmanager
async def connect(
    settings: ConnectionSettings, *, limiter: TokenBucket | None = None
) -> AsyncIterator[Connection]:
    """A ``Connection`` for ``settings``, closed on exit.

    ``limiter`` replaces the token bucket built from ``qps``/``burst`` (tests pass one on a fake
    clock). Raises ``errors.KubeConfigError`` when the credentials cannot be loaded; nothing is
    sent to the server until the first request.
    """
    configuration = await _load_configuration(settings)
    api = _RateLimitedApiClient(configuration, limiter or TokenBucket(settings.qps, settings.burst))
    api.user_agent = settings.user_agent
    try:
        yield Connection(api, settings)
    finally:
        await api.close()


def segment(value: str) -> str:
    """``value`` quoted for use as one path segment (a name or namespace)."""
    return quote(value, safe="")


async def _load_configuration(settings: ConnectionSettings) -> Configuration:
    configuration = Configuration()
    if settings.kubeconfig is None:
        loader = InClusterConfigLoader(
            token_filename=SERVICE_TOKEN_FILENAME, cert_filename=SERVICE_CERT_FILENAME
        )
        try:
            await asyncio.to_thread(loader.load_and_set, configuration)
        except (ConfigException, OSError) as error:
            msg = (
                f"cannot use the in-cluster service account ({error}); run inside a pod with a "
                "service account, or set the k8s kubeconfig setting to a kubeconfig file"
            )
            raise errors.KubeConfigError(msg) from error
        return configuration
    path = settings.kubeconfig
    try:
        merged = await asyncio.to_thread(KubeConfigMerger, path)
        if merged.config is None:
            msg = f"kubeconfig {path!r} is empty"
            raise ConfigException(msg)
        kube_loader = KubeConfigLoader(
            config_dict=merged.config, config_base_path=None, active_context=settings.context
        )
        await kube_loader.load_and_set(configuration)
    except (ConfigException, OSError, ValueError, KeyError, TypeError, AssertionError) as error:
        which = f"context {settings.context!r} of " if settings.context else ""
        msg = (
            f"cannot use {which}kubeconfig {path!r} ({type(error).__name__}: {error}); check the k8s "
            "kubeconfig and context settings (kubectl config get-contexts lists the contexts)"
        )
        raise errors.KubeConfigError(msg) from error
    if hasattr(kube_loader, "exec_plugin_expiry"):
        configuration.refresh_api_key_hook = _exec_credential_refresher(kube_loader)
    return configuration


def _exec_credential_refresher(loader: KubeConfigLoader) -> Callable[[Configuration], Awaitable[None]]:
    """A hook that renews an exec plugin's expiring token before a request needs it.

    kubernetes-asyncio runs the plugin once at load time and otherwise only offers an endless
    ``refresh_token`` loop; this hook instead runs before each request and calls the plugin
    only once the token is about to expire (the loader checks the expiry itself).
    """

    async def refresh(configuration: Configuration) -> None:
        try:
            await loader.load_from_exec_plugin()
        except ConfigException as error:
            msg = f"the kubeconfig's exec credential plugin failed: {error}"
            raise errors.KubeConfigError(msg) from error
        configuration.api_key["BearerToken"] = loader.token

    return refresh


def _query_tuples(query: Query | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if value is None:
            continue
        pairs.append((key, ("true" if value else "false") if isinstance(value, bool) else str(value)))
    return pairs


def _decode(what: str, data: bytes) -> JsonObject:
    if not data.strip():
        return {}
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        msg = errors.truncate(
            f"{what}: the API server answered with something other than a JSON object: {error}"
        )
        raise errors.KubeError(msg) from error


async def _lines(what: str, response: aiohttp.ClientResponse) -> AsyncGenerator[JsonObject, None]:
    try:
        async for line in response.content:
            if line.strip():
                yield _decode(what, line)
    except _TRANSPORT_ERRORS as error:
        raise errors.unreachable(what, error) from error

"""The parts of Go's ``net/url`` and ``net`` that decide how Metal3 reads a BMC address.

Metal3 parses ``spec.bmc.address`` with Go's ``url.Parse`` and falls back on ``net.SplitHostPort``
for bare ``host:port`` strings. Python's ``urllib.parse`` differs in many small ways (scheme
characters, opaque URLs, which host characters are refused, where a port ends), and users copy
addresses between Metal3 and metalstream, so this module reproduces the Go rules that matter for
BMC addresses: scheme detection, query and fragment splitting, opaque URLs, authority and host
parsing with their error texts, and ``Hostname()``/``Port()``. It does not try to be a general
URL library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class GoURLError(ValueError):
    """``url.Parse`` failed; the text matches Go's ``*url.Error`` (``parse "<url>": <reason>``)."""


@dataclass(frozen=True, slots=True)
class GoURL:
    """The fields of Go's ``url.URL`` that BMC address handling reads."""

    scheme: str = ""
    opaque: str = ""
    host: str = ""
    """``host[:port]`` as in the URL, IPv6 literals still in brackets, escapes decoded."""
    path: str = ""
    raw_query: str = ""
    has_userinfo: bool = False

    def hostname(self) -> str:
        """Go's ``URL.Hostname()``: the host without port and without IPv6 brackets."""
        return split_host_port(self.host)[0]

    def port(self) -> str:
        """Go's ``URL.Port()``: the digits after the last colon, or ``""``."""
        return split_host_port(self.host)[1]


def go_quote(text: str) -> str:
    """Close enough to Go's ``%q`` for the printable strings found in addresses."""
    return json.dumps(text, ensure_ascii=False)


def parse(raw: str) -> GoURL:
    """Go's ``url.Parse``; raises ``GoURLError`` with Go's message on failure."""
    without_fragment, _, fragment = raw.partition("#")
    try:
        url = _parse(without_fragment)
    except ValueError as e:
        raise GoURLError(f"parse {go_quote(without_fragment)}: {e}") from None
    if fragment:
        try:
            _unescape(fragment, mode="fragment")
        except ValueError as e:
            raise GoURLError(f"parse {go_quote(raw)}: {e}") from None
    return url


def split_host_port_strict(hostport: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; raises ``ValueError`` where Go returns an error."""
    missing_port = "missing port in address"
    too_many_colons = "too many colons in address"
    i = hostport.rfind(":")
    if i < 0:
        raise ValueError(f"address {hostport}: {missing_port}")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"address {hostport}: missing ']' in address")
        if end + 1 == len(hostport):
            raise ValueError(f"address {hostport}: {missing_port}")
        if end + 1 != i:
            reason = too_many_colons if hostport[end + 1] == ":" else missing_port
            raise ValueError(f"address {hostport}: {reason}")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise ValueError(f"address {hostport}: {too_many_colons}")
    if "[" in hostport[j:]:
        raise ValueError(f"address {hostport}: unexpected '[' in address")
    if "]" in hostport[k:]:
        raise ValueError(f"address {hostport}: unexpected ']' in address")
    return host, hostport[i + 1 :]


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's lenient ``url.splitHostPort`` used by ``Hostname()`` and ``Port()``."""
    host, port = hostport, ""
    colon = host.rfind(":")
    if colon != -1 and _valid_optional_port(host[colon:]):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def parse_query(raw_query: str) -> tuple[dict[str, list[str]], str | None]:
    """Go's ``url.ParseQuery``: the values it could decode and the first error, if any."""
    values: dict[str, list[str]] = {}
    error: str | None = None
    for item in raw_query.split("&"):
        if ";" in item:
            error = error or "invalid semicolon separator in query"
            continue
        if not item:
            continue
        key, _, value = item.partition("=")
        try:
            key = _unescape(key, mode="query")
            value = _unescape(value, mode="query")
        except ValueError as e:
            error = error or str(e)
            continue
        values.setdefault(key, []).append(value)
    return values, error


def _parse(raw: str) -> GoURL:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        msg = "net/url: invalid control character in URL"
        raise ValueError(msg)
    if raw == "*":
        return GoURL(path="*")
    scheme, rest = _get_scheme(raw)
    scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        rest, raw_query = rest[:-1], ""
    else:
        rest, _, raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme=scheme, opaque=rest, raw_query=raw_query)
        segment = rest.partition("/")[0]
        if ":" in segment:
            msg = "first path segment in URL cannot contain colon"
            raise ValueError(msg)
    host = ""
    has_userinfo = False
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        slash = authority.find("/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        host, has_userinfo = _parse_authority(authority)
    path = _unescape(rest, mode="path")
    return GoURL(scheme=scheme, host=host, path=path, raw_query=raw_query, has_userinfo=has_userinfo)


def _get_scheme(raw: str) -> tuple[str, str]:
    for i, c in enumerate(raw):
        if c.isascii() and c.isalpha():
            continue
        if c.isascii() and (c.isdigit() or c in "+-."):
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                msg = "missing protocol scheme"
                raise ValueError(msg)
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _parse_authority(authority: str) -> tuple[str, bool]:
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :] if at >= 0 else authority)
    if at < 0:
        return host, False
    userinfo = authority[:at]
    allowed = "-._:~!$&'()*+,;=%@"
    if not all((c.isascii() and c.isalnum()) or c in allowed or not c.isascii() for c in userinfo):
        msg = "net/url: invalid userinfo"
        raise ValueError(msg)
    return host, True


def _parse_host(host: str) -> str:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            msg = "missing ']' in host"
            raise ValueError(msg)
        colon_port = host[end + 1 :]
        if not _valid_optional_port(colon_port):
            msg = f"invalid port {go_quote(colon_port)} after host"
            raise ValueError(msg)
    else:
        colon = host.rfind(":")
        if colon != -1:
            colon_port = host[colon:]
            if not _valid_optional_port(colon_port):
                msg = f"invalid port {go_quote(colon_port)} after host"
                raise ValueError(msg)
    return _unescape(host, mode="host")


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    if port[0] != ":":
        return False
    return all("0" <= c <= "9" for c in port[1:])


# Characters Go accepts unescaped in a host (RFC 3986 sub-delims plus a few it tolerates).
_HOST_OK = set("!$&'()*+,;=:[]<>\"-_.~")


def _unescape(text: str, *, mode: str) -> str:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            hexpart = text[i + 1 : i + 3]
            if len(hexpart) < 2 or not all(h in "0123456789abcdefABCDEF" for h in hexpart):
                msg = f"invalid URL escape {go_quote(text[i : i + 3])}"
                raise ValueError(msg)
            if mode == "host" and int(hexpart[0], 16) < 8 and text[i : i + 3] != "%25":
                msg = f"invalid URL escape {go_quote(text[i : i + 3])}"
                raise ValueError(msg)
            out.append(int(hexpart, 16))
            i += 3
            continue
        if c == "+" and mode == "query":
            out.append(0x20)
        else:
            if mode == "host" and c.isascii() and not c.isalnum() and c not in _HOST_OK:
                msg = f"invalid character {go_quote(c)} in host name"
                raise ValueError(msg)
            out.extend(c.encode("utf-8"))
        i += 1
    return out.decode("utf-8", errors="replace")

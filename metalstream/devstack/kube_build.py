"""Build ``kube-apiserver`` and ``etcd`` from their Go modules, cached outside the repository.

Why build them: no kube-apiserver is packaged for this project's machines (not on PyPI, npm or
Debian; envtest, kind, k3s and minikube all download binaries from hosts these machines cannot
reach), and Debian's etcd 3.4.23 lacks the health endpoints Kubernetes 1.31+ relies on. The Go
module proxy is reachable, so the real upstream commands are compiled from source:

- ``tools/kube-apiserver``: a wrapper module whose ``main`` is upstream's
  ``cmd/kube-apiserver/apiserver.go``. It requires ``k8s.io/kubernetes`` at a pinned release and
  replaces every ``k8s.io/*`` staging module with the matching published ``v0.x`` release
  (``k8s.io/kubernetes`` itself replaces them with local directories, so it cannot be
  ``go install``-ed).
- ``tools/etcd``: a wrapper module calling ``etcdmain.Main`` from ``go.etcd.io/etcd/server/v3`` at
  the version that Kubernetes release pins.

The binaries land in ``~/.cache/metalstream/kube/<kubernetes-version>/`` (``$METALSTREAM_KUBE_CACHE``
moves the root), each built to a temporary name and renamed into place, so a build killed half-way
leaves nothing usable behind; ``build-info.json`` there records each binary's pinned version, so
changing a pin rebuilds only what changed. A file lock keeps two test sessions from building the
same version at once. Go's own module and build caches (``GOMODCACHE``, ``GOCACHE``) are used as
configured, so a second version or a rebuild costs a fraction of the first. The compiler runs
under ``nice -n 19``: a cold build takes minutes of both cores.

When ``$KUBEBUILDER_ASSETS`` names a directory holding both ``kube-apiserver`` and ``etcd`` (as
controller-runtime's envtest sets up), those are used and nothing is built.

Run ``python -m metalstream.devstack.kube_build`` to build ahead of time (``make kube``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import os
import re
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

import msgspec

CACHE_ENV: Final = "METALSTREAM_KUBE_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/metalstream/kube``)."""
ASSETS_ENV: Final = "KUBEBUILDER_ASSETS"
APISERVER: Final = "kube-apiserver"
ETCD: Final = "etcd"
DEFAULT_BUILD_TIMEOUT: Final = 2400.0
"""Seconds for a whole cold build: about 17 minutes on two busy cores (see tools/README.md)."""
_MANIFEST: Final = "build-info.json"
_LOG: Final = "build.log"
_LOCK_POLL: Final = 0.5
_TAIL_LINES: Final = 30

Progress = Callable[[str], None]


class KubeBuildError(RuntimeError):
    """The binaries could not be built; the message names the build log and shows its last lines."""


@dataclass(frozen=True, slots=True)
class Target:
    """One binary: its wrapper module under ``tools/`` and the upstream module it pins."""

    name: str
    module_dir: Path
    upstream: str
    """The upstream module whose pinned version keys the build."""
    version_packages: tuple[str, ...] = ()
    """Packages whose ``gitVersion``-style variables get the release stamped in (Kubernetes only)."""


@dataclass(frozen=True, slots=True)
class KubeBinaries:
    """Where the two binaries are, and how they were obtained."""

    kube_apiserver: Path
    etcd: Path
    kubernetes_version: str
    """The pinned release, or ``"unknown"`` for binaries from ``$KUBEBUILDER_ASSETS``."""
    source: Literal["assets", "cache", "built"]
    timings: Mapping[str, float] | None = None
    """Seconds per step (``download``, ``build kube-apiserver``, ``build etcd``) when built now."""


class BuildRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What ``build-info.json`` says about one cached binary."""

    upstream: str
    version: str
    go: str
    built_at: str
    download_seconds: float
    build_seconds: float
    size: int


class Manifest(msgspec.Struct, kw_only=True):
    binaries: dict[str, BuildRecord] = msgspec.field(default_factory=dict)


def tools_dir() -> Path:
    """The repository's ``tools/`` directory (this file is ``metalstream/devstack/kube_build.py``)."""
    return Path(__file__).resolve().parents[2] / "tools"


def targets(tools: Path | None = None) -> tuple[Target, Target]:
    """The kube-apiserver and etcd build targets under ``tools``."""
    root = tools or tools_dir()
    return (
        Target(
            name=APISERVER,
            module_dir=root / "kube-apiserver",
            upstream="k8s.io/kubernetes",
            version_packages=("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"),
        ),
        Target(name=ETCD, module_dir=root / "etcd", upstream="go.etcd.io/etcd/server/v3"),
    )


def pinned_version(module_dir: Path, upstream: str) -> str:
    """The version of ``upstream`` that ``module_dir/go.mod`` requires."""
    text = (module_dir / "go.mod").read_text()
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(upstream)}\s+(v\S+)\s*(?://.*)?$", re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        msg = f"{module_dir / 'go.mod'} does not require {upstream}"
        raise KubeBuildError(msg)
    return found.group(1)


def cache_root() -> Path:
    """``$METALSTREAM_KUBE_CACHE``, else ``$XDG_CACHE_HOME/metalstream/kube`` or ``~/.cache/...``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalstream" / "kube"


def from_assets(environ: Mapping[str, str] | None = None) -> KubeBinaries | None:
    """The envtest binaries named by ``$KUBEBUILDER_ASSETS``, if it holds both."""
    assets = (environ if environ is not None else os.environ).get(ASSETS_ENV)
    if not assets:
        return None
    directory = Path(assets).expanduser()
    apiserver, etcd = directory / APISERVER, directory / ETCD
    if not (_executable(apiserver) and _executable(etcd)):
        return None
    return KubeBinaries(kube_apiserver=apiserver, etcd=etcd, kubernetes_version="unknown", source="assets")


def find_go() -> str:
    """``$GO``, else ``go`` on PATH, else the standard ``/usr/local/go/bin/go``."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and _executable(Path(candidate)):
            return candidate
    msg = "no Go toolchain found (set $GO, put go on PATH, or install Go 1.26+ in /usr/local/go)"
    raise KubeBuildError(msg)


async def ensure_binaries(
    *,
    tools: Path | None = None,
    cache: Path | None = None,
    limit: float = DEFAULT_BUILD_TIMEOUT,
    use_assets: bool = True,
    progress: Progress | None = None,
) -> KubeBinaries:
    """Return kube-apiserver and etcd: from ``$KUBEBUILDER_ASSETS``, the cache, or built now.

    ``limit`` (seconds) bounds everything, including waiting for another process that holds the build lock.
    """
    if use_assets and (assets := from_assets()) is not None:
        return assets
    apiserver_target, etcd_target = targets(tools)
    versions = await asyncio.to_thread(_pinned, (apiserver_target, etcd_target))
    directory = (cache or cache_root()) / versions[APISERVER]
    async with asyncio.timeout(limit):
        missing = await asyncio.to_thread(_missing, directory, (apiserver_target, etcd_target), versions)
        if missing:
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            async with _locked(directory.parent / f".{directory.name}.lock"):
                missing = await asyncio.to_thread(_missing, directory, missing, versions)
                if missing:
                    timings = await _build(directory, missing, versions, progress or _silent)
                    return _binaries(directory, versions[APISERVER], "built", timings)
    return _binaries(directory, versions[APISERVER], "cache", None)


def _binaries(
    directory: Path, version: str, source: Literal["cache", "built"], timings: Mapping[str, float] | None
) -> KubeBinaries:
    return KubeBinaries(
        kube_apiserver=directory / APISERVER,
        etcd=directory / ETCD,
        kubernetes_version=version,
        source=source,
        timings=timings,
    )


def _pinned(all_targets: Sequence[Target]) -> dict[str, str]:
    return {target.name: pinned_version(target.module_dir, target.upstream) for target in all_targets}


def _missing(directory: Path, candidates: Sequence[Target], versions: Mapping[str, str]) -> list[Target]:
    """The targets without a cached binary built from the version pinned now."""
    manifest = _read_manifest(directory)
    return [
        target
        for target in candidates
        if not _executable(directory / target.name)
        or (record := manifest.binaries.get(target.name)) is None
        or record.version != versions[target.name]
    ]


async def _build(
    directory: Path, missing: Sequence[Target], versions: Mapping[str, str], progress: Progress
) -> dict[str, float]:
    go = find_go()
    log_path = directory / _LOG
    go_version = (await _output([go, "env", "GOVERSION"], cwd=directory)).decode().strip()
    timings: dict[str, float] = {}
    for target in missing:
        version = versions[target.name]
        progress(f"downloading the Go modules of {target.upstream} {version} (log: {log_path})")
        started = time.monotonic()
        await _run([go, "mod", "download"], cwd=target.module_dir, log_path=log_path, niced=True)
        download = time.monotonic() - started
        timings[f"download {target.name}"] = download
        ldflags = ["-s", "-w"]
        if target.version_packages:
            ldflags += await _version_ldflags(go, target, version)
        progress(f"building {target.name} from {target.upstream} {version} with {go_version} (minutes)")
        temporary = directory / f".{target.name}.build-{os.getpid()}"
        started = time.monotonic()
        try:
            await _run(
                [go, "build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(temporary), "."],
                cwd=target.module_dir,
                log_path=log_path,
                niced=True,
            )
            built = time.monotonic() - started
            record = BuildRecord(
                upstream=target.upstream,
                version=version,
                go=go_version,
                built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                download_seconds=round(download, 1),
                build_seconds=round(built, 1),
                size=(await asyncio.to_thread(temporary.stat)).st_size,
            )
            await asyncio.to_thread(_install, directory, temporary, target.name, record)
        finally:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
        timings[f"build {target.name}"] = built
        progress(f"built {directory / target.name} in {built:.0f}s ({record.size / 1e6:.0f} MB)")
    return timings


async def _version_ldflags(go: str, target: Target, version: str) -> list[str]:
    """Stamp the release into the binary as upstream's hack/lib/version.sh does (``--version``).

    The build date is the release's publication time from the module proxy, so a rebuild of the
    same pin produces the same binary.
    """
    info = msgspec.json.decode(
        await _output([go, "list", "-m", "-json", target.upstream], cwd=target.module_dir)
    )
    published = str(info.get("Time", "1970-01-01T00:00:00Z")) if isinstance(info, dict) else ""
    major, minor = version.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": published,
    }
    return [
        f"-X {package}.{key}={value}" for package in target.version_packages for key, value in values.items()
    ]


def _install(directory: Path, temporary: Path, name: str, record: BuildRecord) -> None:
    """Rename the finished binary into place, then record it in the manifest (also atomically)."""
    temporary.chmod(0o755)
    temporary.replace(directory / name)
    manifest = _read_manifest(directory)
    manifest.binaries[name] = record
    scratch = directory / f".{_MANIFEST}.{os.getpid()}"
    scratch.write_bytes(msgspec.json.format(msgspec.json.encode(manifest)) + b"\n")
    scratch.replace(directory / _MANIFEST)


def _read_manifest(directory: Path) -> Manifest:
    try:
        return msgspec.json.decode((directory / _MANIFEST).read_bytes(), type=Manifest)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return Manifest()


async def _run(argv: Sequence[str], *, cwd: Path, log_path: Path, niced: bool = False) -> None:
    """Run ``argv`` with output appended to ``log_path``; raise naming the log on failure."""
    nice = shutil.which("nice")
    command = [nice, "-n", "19", *argv] if niced and nice else list(argv)
    log = await asyncio.to_thread(_open_log, log_path, f"\n$ (cd {cwd} && {' '.join(command)})\n")
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env={**os.environ, "CGO_ENABLED": "0"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    finally:
        await asyncio.to_thread(log.close)
    try:
        code = await process.wait()
    finally:
        if process.returncode is None:  # cancelled, e.g. by the caller's timeout
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
    if code != 0:
        tail = await asyncio.to_thread(_tail, log_path)
        msg = f"{' '.join(argv[:3])} in {cwd} failed with exit code {code}; {log_path} ends with:\n{tail}"
        raise KubeBuildError(msg)


async def _output(argv: Sequence[str], *, cwd: Path) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        msg = f"{' '.join(argv)} failed with exit code {process.returncode}: {err.decode(errors='replace')}"
        raise KubeBuildError(msg)
    return out


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path``, polled so that waiting for it stays cancellable."""
    descriptor = await asyncio.to_thread(os.open, path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


def _open_log(path: Path, header: str) -> BinaryIO:
    log = path.open("ab")
    log.write(header.encode())
    log.flush()
    return log


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _silent(_: str) -> None:
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or find) the binaries and print where they are: ``make kube``."""
    del argv

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        binaries = asyncio.run(ensure_binaries(progress=report))
    except KubeBuildError as error:
        report(f"error: {error}")
        return 1
    print(f"kube-apiserver {binaries.kubernetes_version} ({binaries.source}): {binaries.kube_apiserver}")
    print(f"etcd ({binaries.source}): {binaries.etcd}")
    for step, seconds in (binaries.timings or {}).items():
        print(f"  {step}: {seconds:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

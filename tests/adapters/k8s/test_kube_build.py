"""Where the kube-apiserver and etcd binaries come from: the pins, envtest's assets, the cache."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from metalstream.devstack import kube_build


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def cached(directory: Path, *, etcd_version: str) -> Path:
    """A cache directory as a build leaves it, with fake binaries."""
    directory.mkdir(parents=True)
    for name in (kube_build.APISERVER, kube_build.ETCD):
        executable(directory / name)
    record = {"upstream": "x", "go": "go1.26.8", "built_at": "", "download_seconds": 0.0}
    record |= {"build_seconds": 0.0, "size": 1}
    manifest = {
        "binaries": {
            kube_build.APISERVER: {**record, "version": pinned()[kube_build.APISERVER]},
            kube_build.ETCD: {**record, "version": etcd_version},
        }
    }
    (directory / "build-info.json").write_bytes(msgspec.json.encode(manifest))
    return directory


def pinned() -> dict[str, str]:
    return {t.name: kube_build.pinned_version(t.module_dir, t.upstream) for t in kube_build.targets()}


def test_every_staging_module_is_replaced_by_the_matching_release() -> None:
    apiserver, _ = kube_build.targets()
    kubernetes = kube_build.pinned_version(apiserver.module_dir, "k8s.io/kubernetes")
    staging = "v0." + kubernetes.removeprefix("v1.")
    replaces = re.findall(
        r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", (apiserver.module_dir / "go.mod").read_text(), re.M
    )
    assert len(replaces) >= 30
    for module, replacement, version in replaces:
        assert (replacement, version) == (module, staging)


def test_envtest_assets_are_used_when_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(tmp_path / "kube-apiserver")
    monkeypatch.setenv(kube_build.ASSETS_ENV, str(tmp_path))
    assert kube_build.from_assets() is None, "without etcd the assets are incomplete"
    executable(tmp_path / "etcd")
    found = kube_build.from_assets()
    assert found is not None
    assert (found.kube_apiserver, found.etcd, found.source) == (
        tmp_path / "kube-apiserver",
        tmp_path / "etcd",
        "assets",
    )


async def test_a_cached_build_of_the_pinned_versions_is_reused(tmp_path: Path) -> None:
    directory = cached(tmp_path / pinned()[kube_build.APISERVER], etcd_version=pinned()[kube_build.ETCD])
    found = await kube_build.ensure_binaries(cache=tmp_path, use_assets=False, limit=10)
    assert (found.kube_apiserver, found.etcd, found.source) == (
        directory / "kube-apiserver",
        directory / "etcd",
        "cache",
    )


async def test_a_changed_pin_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached(tmp_path / pinned()[kube_build.APISERVER], etcd_version="v3.5.0")
    go = executable(tmp_path / "go", "#!/bin/sh\necho 'stub go was asked to build' >&2\nexit 3\n")
    monkeypatch.setenv("GO", str(go))
    with pytest.raises(kube_build.KubeBuildError, match="stub go was asked to build"):
        await kube_build.ensure_binaries(cache=tmp_path, use_assets=False, limit=10)

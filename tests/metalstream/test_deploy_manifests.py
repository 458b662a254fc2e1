"""The deployment files agree with the code: kustomize builds, RBAC, probes, settings names, image.

Most checks read the YAML (and ``kubectl kustomize`` output) directly. One test applies the
manifests with ``--dry-run=server`` to the real kube-apiserver of the test session, which
validates every field against the API's schemas and the namespace's restricted Pod Security
profile. ``docker compose config`` runs when the compose plugin is installed; the YAML-level
checks of ``compose.yaml`` run either way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest
import yaml

from adapters.k8s import resources as k8s_resources
from adapters.k8s.leader import LEASES
from metalstream import settings
from metalstream.devstack.kube import find_kubectl
from metalstream.observability.health import HEALTHZ, READYZ, ObservabilitySettings
from tests.kube import Kubectl

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"
NAMESPACE: Final = "metalstream-system"
SERVICE_ACCOUNT: Final = "metalstream"
RENDER_LIMIT: Final = 60.0

# -- what the control plane may do, and why ------------------------------------------------------
#
# The control plane implements Metal3's three controllers (BMO, CAPM3, IPAM) on their own API
# kinds. For each kind it watches objects (get/list/watch), adds and removes its finalizers and
# annotations (update/patch), and writes status through the status subresource (get/update/patch).
# It creates and deletes only the kinds in CREATES below; users and Cluster API own the rest. The finalizers
# subresource (update) is needed only to set ownerReferences with blockOwnerDeletion under the
# OwnerReferencesPermissionEnforcement admission plugin, so only kinds that carry a Metal3
# finalizer get it. Status and finalizer lists follow each kind's CRD (docs: metal3.md §1).

WATCH_AND_PATCH: Final = frozenset({"get", "list", "watch", "update", "patch"})
STATUS: Final = frozenset({"get", "update", "patch"})
FINALIZERS: Final = frozenset({"update"})

KINDS: Final[dict[str, dict[str, tuple[bool, bool]]]] = {
    # group -> plural -> (has a status subresource, carries a finalizer)
    "metal3.io": {
        "baremetalhosts": (True, True),
        "baremetalswitches": (True, False),
        "bmceventsubscriptions": (True, True),
        "dataimages": (True, True),
        "firmwareschemas": (False, False),
        "hardwaredata": (False, True),
        "hostclaims": (True, True),
        "hostdeploypolicies": (True, False),
        "hostfirmwarecomponents": (True, False),
        "hostfirmwaresettings": (True, False),
        "hostnetworkattachments": (True, False),
        "hostupdatepolicies": (False, False),
        "preprovisioningimages": (True, True),
    },
    "infrastructure.cluster.x-k8s.io": {
        "metal3clusters": (True, True),
        "metal3clustertemplates": (False, False),
        "metal3dataclaims": (True, True),
        "metal3datas": (True, True),
        "metal3datatemplates": (True, True),
        "metal3machines": (True, True),
        "metal3machinetemplates": (False, False),
        "metal3remediations": (True, True),
        "metal3remediationtemplates": (True, False),
    },
    "ipam.metal3.io": {
        "ipaddresses": (False, True),
        "ipclaims": (True, True),
        "ippools": (True, True),
    },
}

CREATES: Final = {
    # Objects metalstream makes and removes itself, as Metal3 does: HardwareData after inspection
    # (deleted with its host), IPAddresses for allocations (deleted on release).
    ("metal3.io", "hardwaredata"): frozenset({"create", "delete"}),
    ("ipam.metal3.io", "ipaddresses"): frozenset({"create", "delete"}),
    # CAPM3's data chain: a Metal3DataClaim per machine, the Metal3Data it yields, the IPClaims
    # that data needs, and the rendered metaData/networkData Secrets (deleted with their data).
    ("infrastructure.cluster.x-k8s.io", "metal3dataclaims"): frozenset({"create", "delete"}),
    ("infrastructure.cluster.x-k8s.io", "metal3datas"): frozenset({"create", "delete"}),
    ("ipam.metal3.io", "ipclaims"): frozenset({"create", "delete"}),
    ("", "secrets"): frozenset({"create", "delete"}),
}

CAPI_IPAM: Final = {
    # Metal3 IPAM as a Cluster API IPAM provider: IPAddressClaims naming a metal3 IPPool get a
    # finalizer and a status; their CAPI IPAddresses are created and deleted.
    ("ipam.cluster.x-k8s.io", "ipaddressclaims"): WATCH_AND_PATCH,
    ("ipam.cluster.x-k8s.io", "ipaddressclaims/status"): STATUS,
    ("ipam.cluster.x-k8s.io", "ipaddresses"): WATCH_AND_PATCH | {"create", "delete"},
}

READS: Final = {
    # Cluster API's own objects, read only: a Machine's bootstrap data Secret, its control plane or
    # deployment (node reuse) and failure domain; a Cluster's pause and deletion.
    ("cluster.x-k8s.io", "machines"): frozenset({"get", "list", "watch"}),
    ("cluster.x-k8s.io", "clusters"): frozenset({"get", "list", "watch"}),
}

CORE_PERMISSIONS: Final = {
    # BMC credentials Secrets: read them, label them environment.metal3.io=baremetal and hold a
    # finalizer while a host uses them (update/patch), as BMO does. (Rendered data Secrets are
    # created and deleted: see CREATES.)
    ("", "secrets"): frozenset({"get", "list", "watch", "update", "patch"}),
    # Kubernetes Events on hosts, written in each host's namespace.
    ("", "events"): frozenset({"create", "patch"}),
}

NAMESPACED_PERMISSIONS: Final = {
    # Leader election, in the control plane's own namespace only (a Role, not the ClusterRole):
    # read the Lease, create it the first time, and take, renew or release it (update).
    ("coordination.k8s.io", "leases"): frozenset({"get", "create", "update"}),
}


def expected_namespaced_permissions() -> set[tuple[str, str, str]]:
    return {
        (group, plural, verb) for (group, plural), verbs in NAMESPACED_PERMISSIONS.items() for verb in verbs
    }


def expected_cluster_permissions() -> set[tuple[str, str, str]]:
    wanted: set[tuple[str, str, str]] = set()
    for group, kinds in KINDS.items():
        for plural, (status, finalizer) in kinds.items():
            wanted |= {(group, plural, verb) for verb in WATCH_AND_PATCH}
            if status:
                wanted |= {(group, f"{plural}/status", verb) for verb in STATUS}
            if finalizer:
                wanted |= {(group, f"{plural}/finalizers", verb) for verb in FINALIZERS}
    for table in (CORE_PERMISSIONS, CREATES, READS, CAPI_IPAM):
        for (group, plural), verbs in table.items():
            wanted |= {(group, plural, verb) for verb in verbs}
    return wanted


# -- helpers -------------------------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def render(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [find_kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=RENDER_LIMIT,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory.relative_to(ROOT)}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def only(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def permissions(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    granted: set[tuple[str, str, str]] = set()
    for rule in rules:
        assert "*" not in rule.get("verbs", []), rule
        assert "*" not in rule.get("resources", []), rule
        assert "*" not in rule.get("apiGroups", []), rule
        assert not rule.get("resourceNames"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted |= {(group, resource, verb) for verb in rule["verbs"]}
    return granted


def known_setting_variables() -> set[str]:
    """Every ``METALSTREAM_*`` name the settings loader reads, plus the health server's group."""
    names = set()
    groups: dict[str, Any] = dict(typing.get_type_hints(settings.Settings))
    groups.setdefault("observability", ObservabilitySettings)
    for group, group_type in groups.items():
        names |= {f"{settings.PREFIX}{group}_{field}".upper() for field in group_type.__struct_fields__}
    return names


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in c.get("env", []) if "value" in item}


def container_port(c: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    assert named, f"no container port named {port!r}"
    value: int = named[0]
    return value


def walk_resources(kustomization: Path) -> Iterator[tuple[Path, Path]]:
    data = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
    for entry in data.get("resources", []):
        yield kustomization.parent, kustomization.parent / entry
    for generator in data.get("configMapGenerator", []) + data.get("secretGenerator", []):
        for entry in generator.get("files", []):
            yield kustomization.parent, kustomization.parent / entry.split("=")[-1]


# -- the files -----------------------------------------------------------------------------------


def test_every_yaml_file_under_deploy_parses_into_objects() -> None:
    files = yaml_files()
    assert len(files) >= 12
    for path in files:
        docs = documents(path)
        assert docs, f"{path.relative_to(ROOT)} is empty"
        for doc in docs:
            assert isinstance(doc, dict), path
            assert {"apiVersion", "kind"} <= doc.keys(), f"{path.relative_to(ROOT)}: {doc}"


def test_every_kustomization_resource_exists() -> None:
    kustomizations = sorted(DEPLOY.rglob("kustomization.yaml"))
    assert DEPLOY / "kustomization.yaml" in kustomizations
    top = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text(encoding="utf-8"))
    assert top["resources"] == ["crds", "base"]
    for kustomization in kustomizations:
        for base, target in walk_resources(kustomization):
            where = f"{kustomization.relative_to(ROOT)} lists {target.relative_to(base)}"
            if target.is_dir():
                assert (target / "kustomization.yaml").is_file(), (
                    f"{where}: a directory without kustomization.yaml"
                )
            else:
                assert target.is_file(), f"{where}, which does not exist"


def test_the_full_deployment_renders_with_crds_covered_by_rbac() -> None:
    objects = render(DEPLOY)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert crds, "deploy/crds rendered no CustomResourceDefinition"
    granted = permissions(only(objects, "ClusterRole", "metalstream-manager")["rules"])
    for crd in crds:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        assert group in KINDS, f"CRD {crd['metadata']['name']}: group {group} has no RBAC"
        assert (group, plural, "watch") in granted, f"CRD {plural}.{group} is not watched"
        if any("status" in v.get("subresources", {}) for v in crd["spec"]["versions"]):
            assert (group, f"{plural}/status", "patch") in granted, f"{plural}.{group} status is not writable"
    for obj in objects:
        if obj["kind"] not in ("CustomResourceDefinition", "Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]


def test_cluster_rbac_is_exactly_what_the_controllers_need() -> None:
    objects = render(DEPLOY / "base")
    role = only(objects, "ClusterRole", "metalstream-manager")
    assert permissions(role["rules"]) == expected_cluster_permissions()
    binding = only(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "metalstream-manager",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]


def test_the_namespaced_role_grants_exactly_the_leader_election_lease() -> None:
    objects = render(DEPLOY / "base")
    role = only(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert permissions(role["rules"]) == expected_namespaced_permissions()
    binding = only(objects, "RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]
    # The elector's Lease kind is the one granted.
    assert (LEASES.group, LEASES.plural) in NAMESPACED_PERMISSIONS


def test_nothing_is_granted_that_the_process_does_not_use() -> None:
    # Lease rights only where the Lease lives, and only while leader election is on.
    objects = render(DEPLOY / "base")
    cluster = permissions(only(objects, "ClusterRole")["rules"])
    assert not {(g, r) for g, r, _ in cluster} & set(NAMESPACED_PERMISSIONS)
    config = settings.load(env_of(container(only(objects, "Deployment"))))
    assert config.kube.leader_election
    assert config.kube.leader_election_namespace is None  # the pod's namespace: the Role's


def test_every_resource_the_kubernetes_adapter_names_is_granted() -> None:
    named = [v for v in vars(k8s_resources).values() if isinstance(v, k8s_resources.Resource)]
    assert named, "adapters.k8s.resources names no resource"
    granted = permissions(only(render(DEPLOY / "base"), "ClusterRole")["rules"])
    for resource in named:
        assert any(g == resource.group and r == resource.plural for g, r, _ in granted), str(resource)


def test_deployment_probes_the_health_server_on_its_default_port() -> None:
    objects = render(DEPLOY / "base")
    deployment = only(objects, "Deployment", "metalstream")
    c = container(deployment)
    default_port = ObservabilitySettings().port
    assert c["livenessProbe"]["httpGet"]["path"] == HEALTHZ
    assert c["readinessProbe"]["httpGet"]["path"] == READYZ
    for probe in ("livenessProbe", "readinessProbe"):
        assert container_port(c, c[probe]["httpGet"]["port"]) == default_port
    env = env_of(c)
    assert env["METALSTREAM_OBSERVABILITY_PORT"] == str(default_port)
    service = only(objects, "Service", "metalstream-metrics")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert [container_port(c, p["targetPort"]) for p in service["spec"]["ports"]] == [default_port]


def test_deployment_runs_one_locked_down_replica() -> None:
    objects = render(DEPLOY / "base")
    deployment = only(objects, "Deployment", "metalstream")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    # Old and new pods may overlap in a rollout because only the Lease holder acts; the new pod is
    # ready as a standby before the old leader stops and releases the Lease.
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert env_of(container(deployment))["METALSTREAM_KUBE_LEADER_ELECTION"] == "true"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod["securityContext"]["runAsNonRoot"] is True
    c = container(deployment)
    security = c["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
    assert "memory" in c["resources"]["limits"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts  # a writable scratch dir on a read-only root
    namespace = only(objects, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_deployment_sets_only_settings_that_exist() -> None:
    c = container(only(render(DEPLOY / "base"), "Deployment", "metalstream"))
    env = env_of(c)
    unknown = {name for name in env if name.startswith(settings.PREFIX)} - known_setting_variables()
    assert not unknown, f"the Deployment sets variables no setting reads: {sorted(unknown)}"
    config = settings.load(env)
    assert config.log.format == "json"
    assert config.kube.leader_election is True
    nats_url = urlsplit(config.nats.urls[0])
    nats_service = only(render(DEPLOY / "nats"), "Service", "nats")
    assert nats_url.hostname == f"{nats_service['metadata']['name']}.{NAMESPACE}.svc"
    assert nats_url.port in [p["port"] for p in nats_service["spec"]["ports"]]


def test_the_nats_example_keeps_jetstream_on_a_volume_and_fsyncs() -> None:
    objects = render(DEPLOY / "nats")
    statefulset = only(objects, "StatefulSet", "nats")
    c = container(statefulset)
    claims = {t["metadata"]["name"]: t for t in statefulset["spec"]["volumeClaimTemplates"]}
    data_mount = next(m for m in c["volumeMounts"] if m["name"] in claims)
    assert claims[data_mount["name"]]["spec"]["resources"]["requests"]["storage"]
    conf = (DEPLOY / "nats" / "nats.conf").read_text(encoding="utf-8")
    assert re.search(r"store_dir:\s*" + re.escape(data_mount["mountPath"]) + r"\s", conf)
    assert re.search(r"sync_interval:\s*always", conf)
    config_map = only(objects, "ConfigMap")
    assert "nats.conf" in config_map["data"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


# -- the image -----------------------------------------------------------------------------------


def test_dockerfile_builds_the_runtime_package_into_a_non_root_image() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE}"]
    assert "COPY --from=build /opt/metalstream /opt/metalstream" in lines
    install = next(line for line in lines if "pip install" in line)
    assert "pip install ." in install
    assert "[dev]" not in text
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for package in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert f"COPY {package} ./{package}" in lines, f"the image does not get package {package}"
    users = [line.split()[1].split(":")[0] for line in lines if line.startswith("USER ")]
    assert users, "the image must not run as root"
    assert users[-1].isdigit()  # numeric, so runAsNonRoot can verify it
    assert int(users[-1]) != 0
    assert lines[-1] == 'ENTRYPOINT ["metalstream", "run"]'
    assert f"EXPOSE {ObservabilitySettings().port}" in lines
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "var", ".git", "tests"} <= set(ignored)


# -- compose -------------------------------------------------------------------------------------


def compose_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return spec


def test_compose_runs_nats_ironic_sushy_and_the_control_plane() -> None:
    services = compose_spec()["services"]
    assert {"nats", "ironic", "sushy-tools", "metalstream"} <= services.keys()
    nats = services["nats"]
    assert nats["image"].startswith("nats:")
    assert nats["command"] == ["-c", "/etc/nats/nats.conf"]
    assert "./deploy/compose/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]
    conf = (ROOT / "deploy" / "compose" / "nats.conf").read_text(encoding="utf-8")
    store_dir = re.search(r"store_dir:\s*(\S+)", conf)
    assert store_dir is not None
    assert f"nats-data:{store_dir.group(1)}" in nats["volumes"]
    assert re.search(r"sync_interval:\s*always", conf)
    assert services["ironic"]["image"].startswith("quay.io/metal3-io/ironic")
    assert services["sushy-tools"]["image"].startswith("quay.io/metal3-io/sushy-tools")

    control_plane = services["metalstream"]
    assert (ROOT / control_plane["build"]["context"] / control_plane["build"]["dockerfile"]).is_file()
    env = control_plane["environment"]
    unknown = {name for name in env if name.startswith(settings.PREFIX)} - known_setting_variables()
    assert not unknown, f"compose sets variables no setting reads: {sorted(unknown)}"
    nats_url, ironic_url = urlsplit(env["METALSTREAM_NATS_URLS"]), urlsplit(env["METALSTREAM_IRONIC_URL"])
    assert (nats_url.hostname, nats_url.port) == ("nats", 4222)
    assert ironic_url.hostname == "ironic"
    assert any(p.endswith(f":{ironic_url.port}") for p in services["ironic"]["ports"])
    assert f"{env['METALSTREAM_OBSERVABILITY_PORT']}:{ObservabilitySettings().port}" in control_plane["ports"]
    assert {"nats", "ironic"} <= set(control_plane["depends_on"])

    docker = _compose_available()
    if docker is not None:  # Compose's own validation on top of the checks above, where installed
        result = subprocess.run(
            [docker, "compose", "-f", "compose.yaml", "--profile", "control-plane", "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr


def test_compose_mounts_files_that_exist_and_declares_its_volumes() -> None:
    spec = compose_spec()
    declared = set(spec.get("volumes", {}))
    mounted = 0
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("${"):
                continue  # chosen by the user at run time (the kubeconfig)
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"service {name} mounts {source}, which does not exist"
                mounted += 1
            else:
                assert source in declared, f"service {name} uses volume {source}, not declared"
    assert mounted >= 2


def _compose_available() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    return docker if probe.returncode == 0 else None


# -- against a real API server -------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120, func_only=True)
async def test_the_api_server_accepts_every_manifest(kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", str(DEPLOY / "base" / "namespace.yaml"))
    for directory in (DEPLOY / "base", DEPLOY / "nats"):
        result = await kubectl.run("apply", "--dry-run=server", "-k", str(directory))
        assert "Warning" not in result.stderr, result.stderr  # e.g. a Pod Security violation
        assert "(server dry run)" in result.stdout
    full = await kubectl.run("apply", "--dry-run=server", "-k", str(DEPLOY))
    assert "customresourcedefinition" in full.stdout

from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates.data_inputs import nics_by_name
from core.aggregates.data_network import netmask
from core.aggregates.data_rendering import (
    DataRenderingError,
    MachineObjects,
    ObjectFacts,
    PoolAddress,
    RenderingInput,
    RenderingInputMissing,
    TemplateInvalid,
    referenced_pools,
    render,
    secret_names,
)
from core.aggregates.data_template_validation import problems, validate_template
from core.events.data_template_values import (
    BondLink,
    BondParameter,
    DataTemplateSpec,
    DhcpNetwork,
    EthernetLink,
    FromAnnotation,
    FromPool,
    Gateway,
    IPPoolReference,
    Links,
    MacAddress,
    MetaData,
    MetaDataHostInterface,
    MetaDataIndex,
    NetworkData,
    Networks,
    Route,
    Services,
    StaticNetwork,
    VlanLink,
)
from core.events.host_values import NIC

OBJECTS = MachineObjects(
    machine=ObjectFacts(name="m-0"),
    metal3machine=ObjectFacts(name="m3m-0"),
    host=ObjectFacts(name="host-0"),
)
INPUTS = RenderingInput(
    namespace="metal3",
    index=0,
    objects=OBJECTS,
    host_nics={"eno1": "52:54:00:00:00:01"},
    pool_addresses={"pool-a": PoolAddress(address="192.0.2.10", prefix=24, gateway="192.0.2.1")},
)


def _network(
    *,
    ethernets: tuple[EthernetLink, ...] = (),
    bonds: tuple[BondLink, ...] = (),
    vlans: tuple[VlanLink, ...] = (),
) -> DataTemplateSpec:
    return DataTemplateSpec(
        network_data=NetworkData(links=Links(ethernets=ethernets, bonds=bonds, vlans=vlans))
    )


def _static(network: StaticNetwork) -> DataTemplateSpec:
    return DataTemplateSpec(network_data=NetworkData(networks=Networks(ipv4=(network,))))


def _raises(
    spec: DataTemplateSpec, error: type[DataRenderingError], field: str, inputs: RenderingInput = INPUTS
) -> str:
    with pytest.raises(error) as caught:
        render(spec, inputs)
    assert caught.value.field == field
    return str(caught.value)


# --- sections and names -------------------------------------------------------------------------------


def test_template_without_sections_renders_no_documents() -> None:
    assert render(DataTemplateSpec(), INPUTS).meta_data is None
    assert render(DataTemplateSpec(), INPUTS).network_data is None


def test_empty_network_data_renders_three_empty_lists() -> None:
    rendered = render(DataTemplateSpec(network_data=NetworkData()), INPUTS)
    assert rendered.network_data == {"links": [], "networks": [], "services": []}


def test_empty_meta_data_renders_only_the_provider_id() -> None:
    assert render(DataTemplateSpec(meta_data=MetaData()), INPUTS).meta_data == {
        "providerid": "metal3/host-0/m3m-0"
    }


def test_secret_names_follow_the_machine_and_the_sections_present() -> None:
    assert secret_names(DataTemplateSpec(meta_data=MetaData()), "m3m-0") == ("m3m-0-metadata", None)
    both = DataTemplateSpec(meta_data=MetaData(), network_data=NetworkData())
    assert secret_names(both, "m3m-0") == ("m3m-0-metadata", "m3m-0-networkdata")


def test_nics_by_name_keeps_the_first_nic_of_a_name() -> None:
    nics = (NIC(name="eno1", mac="aa:00:00:00:00:01"), NIC(name="eno1", mac="aa:00:00:00:00:02"))
    assert nics_by_name(nics) == {"eno1": "aa:00:00:00:00:01"}
    assert nics_by_name(None) is None


# --- metaData -----------------------------------------------------------------------------------------


def test_dns_servers_from_pool_claim_an_address_but_render_no_key() -> None:
    spec = DataTemplateSpec(meta_data=MetaData(dns_servers_from_pool=(FromPool(key="dns", name="pool-a"),)))
    assert "pool-a" in referenced_pools(spec, OBJECTS)
    assert "dns" not in (render(spec, INPUTS).meta_data or {})


def test_metadata_pool_entries_always_mean_metal3_pools() -> None:
    entry = FromPool(key="ip", name="pool-a", kind="InClusterIPPool", api_group="ipam.cluster.x-k8s.io")
    spec = DataTemplateSpec(meta_data=MetaData(ip_addresses_from_pool=(entry,)))
    assert referenced_pools(spec, OBJECTS) == {"pool-a": IPPoolReference(name="pool-a")}


def test_missing_pool_address_names_the_field_and_pool() -> None:
    spec = DataTemplateSpec(meta_data=MetaData(ip_addresses_from_pool=(FromPool(key="ip", name="pool-b"),)))
    message = _raises(spec, RenderingInputMissing, "spec.metaData.ipAddressesFromPool[0].name")
    assert "pool-b" in message


def test_prefix_from_a_pool_without_prefix_is_missing_input() -> None:
    spec = DataTemplateSpec(meta_data=MetaData(prefixes_from_pool=(FromPool(key="p", name="pool-a"),)))
    inputs = replace(INPUTS, pool_addresses={"pool-a": PoolAddress(address="192.0.2.10")})
    _raises(spec, RenderingInputMissing, "spec.metaData.prefixesFromPool[0].name", inputs)


def test_host_without_inspected_nics_is_missing_input() -> None:
    spec = DataTemplateSpec(
        meta_data=MetaData(from_host_interfaces=(MetaDataHostInterface(key="mac", interface="eno1"),))
    )
    message = _raises(
        spec,
        RenderingInputMissing,
        "spec.metaData.fromHostInterfaces[0].interface",
        replace(INPUTS, host_nics=None),
    )
    assert "no inspected NICs" in message


def test_unknown_nic_lists_the_nics_the_host_has() -> None:
    spec = DataTemplateSpec(
        meta_data=MetaData(from_host_interfaces=(MetaDataHostInterface(key="mac", interface="eth9"),))
    )
    message = _raises(spec, RenderingInputMissing, "spec.metaData.fromHostInterfaces[0].interface")
    assert "eth9" in message
    assert "eno1" in message


def test_boot_mac_must_be_set_on_the_host() -> None:
    spec = DataTemplateSpec(
        meta_data=MetaData(from_host_interfaces=(MetaDataHostInterface(key="b", from_boot_mac=True),))
    )
    _raises(spec, RenderingInputMissing, "spec.metaData.fromHostInterfaces[0].fromBootMAC")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param(
            MetaDataHostInterface(key="b"), "spec.metaData.fromHostInterfaces[0].interface", id="neither"
        ),
        pytest.param(
            MetaDataHostInterface(key="b", interface="eno1", from_boot_mac=True),
            "spec.metaData.fromHostInterfaces[0]",
            id="both",
        ),
    ],
)
def test_host_interface_entry_needs_exactly_one_source(entry: MetaDataHostInterface, field: str) -> None:
    _raises(DataTemplateSpec(meta_data=MetaData(from_host_interfaces=(entry,))), TemplateInvalid, field)


@pytest.mark.parametrize(
    ("index", "machine_index", "expected"),
    [
        pytest.param(MetaDataIndex(key="k"), 0, "0", id="first"),
        pytest.param(MetaDataIndex(key="k", offset=100, step=10), 3, "130", id="offset-step"),
        pytest.param(MetaDataIndex(key="k", step=0), 4, "4", id="zero-step-means-one"),
        pytest.param(MetaDataIndex(key="k", prefix="ip-", suffix="-x"), 9, "ip-9-x", id="prefix-suffix"),
    ],
)
def test_index_metadata(index: MetaDataIndex, machine_index: int, expected: str) -> None:
    meta = render(
        DataTemplateSpec(meta_data=MetaData(indexes=(index,))), replace(INPUTS, index=machine_index)
    )
    assert (meta.meta_data or {})["k"] == expected


# --- networkData: links -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mac",
    ["52:54:00:00:00:01", "52-54-00-00-00-01", "AA:BB:CC:DD:EE:FF"],
)
def test_literal_macs_in_either_notation_are_kept(mac: str) -> None:
    spec = _network(ethernets=(EthernetLink(type="phy", id="e", mac_address=MacAddress(string=mac)),))
    links = (render(spec, INPUTS).network_data or {})["links"]
    assert links[0]["ethernet_mac_address"] == mac


@pytest.mark.parametrize(
    "mac", ["52:54:00:00:00", "52:54:00:00:00:01\n", "zz:54:00:00:00:01", "525400000001"]
)
def test_malformed_literal_mac_is_rejected(mac: str) -> None:
    spec = _network(ethernets=(EthernetLink(type="phy", id="e", mac_address=MacAddress(string=mac)),))
    _raises(spec, TemplateInvalid, "spec.networkData.links.ethernets[0].macAddress.string")


def test_mac_from_a_missing_annotation_is_missing_input() -> None:
    mac = MacAddress(from_annotation=FromAnnotation(object="baremetalhost", annotation="example.com/mac"))
    spec = _network(vlans=(VlanLink(vlan_id=5, id="v", vlan_link="e", mac_address=mac),))
    _raises(spec, RenderingInputMissing, "spec.networkData.links.vlans[0].macAddress.fromAnnotation")


def test_link_without_mac_renders_no_mac_key() -> None:
    spec = _network(ethernets=(EthernetLink(type="phy", id="e", name="eth0"),))
    links = (render(spec, INPUTS).network_data or {})["links"]
    assert links == [{"type": "phy", "id": "e", "name": "eth0", "mtu": 1500}]


@pytest.mark.parametrize("name", ["mode", "links", "xmit_hash_policy"])
def test_bond_parameter_may_not_replace_a_structured_field(name: str) -> None:
    bond = BondLink(bond_mode="802.3ad", id="bond0", parameters=(BondParameter(name=name, value="x"),))
    message = _raises(_network(bonds=(bond,)), TemplateInvalid, "spec.networkData.links.bonds[0].parameters")
    assert repr(name) in message
    assert [field for field, _ in problems(_network(bonds=(bond,)))] == [
        "spec.networkData.links.bonds[0].parameters"
    ]


def test_bond_parameter_values_pass_through_as_json() -> None:
    params = (
        BondParameter(name="miimon", value=100),
        BondParameter(name="arp_ip_target", value=["192.0.2.1"]),
    )
    bond = BondLink(bond_mode="active-backup", id="bond0", bond_links=(), parameters=params)
    link = (render(_network(bonds=(bond,)), INPUTS).network_data or {})["links"][0]
    assert (link["bond_miimon"], link["bond_arp_ip_target"], link["bond_links"]) == (100, ["192.0.2.1"], [])


# --- networkData: networks and services --------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "ipv4", "mask"),
    [
        pytest.param(None, True, "", id="v4-none"),
        pytest.param(0, True, "0.0.0.0", id="v4-0"),  # noqa: S104 - a netmask, not a bind address
        pytest.param(23, True, "255.255.254.0", id="v4-23"),
        pytest.param(32, True, "255.255.255.255", id="v4-32"),
        pytest.param(0, False, "::", id="v6-0"),
        pytest.param(56, False, "ffff:ffff:ffff:ff00::", id="v6-56"),
        pytest.param(112, False, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:0", id="v6-112"),
        pytest.param(128, False, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", id="v6-128"),
    ],
)
def test_netmasks_are_written_like_go_writes_them(prefix: int | None, ipv4: bool, mask: str) -> None:
    assert netmask(prefix, ipv4=ipv4, field="f") == mask


@pytest.mark.parametrize(("prefix", "ipv4"), [(33, True), (-1, True), (129, False)])
def test_impossible_prefix_is_rejected(prefix: int, ipv4: bool) -> None:
    with pytest.raises(TemplateInvalid):
        netmask(prefix, ipv4=ipv4, field="f")


def test_pool_address_without_prefix_renders_an_empty_netmask() -> None:
    inputs = replace(INPUTS, pool_addresses={"pool-a": PoolAddress(address="192.0.2.10")})
    networks = (
        render(
            _static(StaticNetwork(id="n", link="e", ip_address_from_ip_pool="pool-a")), inputs
        ).network_data
        or {}
    )
    assert networks["networks"][0]["netmask"] == ""


def test_static_network_pool_precedence_is_annotation_then_ref_then_name() -> None:
    objects = replace(OBJECTS, machine=ObjectFacts(name="m-0", annotations={"pool": "pool-c"}))
    addresses = {
        name: PoolAddress(address=f"192.0.2.{i}", prefix=24)
        for i, name in enumerate(["pool-a", "pool-b", "pool-c"])
    }
    inputs = replace(INPUTS, objects=objects, pool_addresses=addresses)
    network = StaticNetwork(
        id="n",
        link="e",
        ip_address_from_ip_pool="pool-a",
        from_pool_ref=IPPoolReference(name="pool-b"),
        from_pool_annotation=FromAnnotation(object="machine", annotation="pool"),
    )
    rendered = render(_static(network), inputs).network_data or {}
    assert rendered["networks"][0]["ip_address"] == "192.0.2.2"
    assert render(_static(replace(network, from_pool_annotation=None)), inputs).network_data == {
        "links": [],
        "networks": [
            {
                "type": "ipv4",
                "id": "n",
                "link": "e",
                "netmask": "255.255.255.0",
                "ip_address": "192.0.2.1",
                "routes": [],
            }
        ],
        "services": [],
    }
    # CAPM3 claims every pool named; the one that renders wins by precedence.
    assert list(referenced_pools(_static(network), objects)) == ["pool-c", "pool-b"]


def test_static_network_without_a_pool_is_invalid() -> None:
    spec = _static(StaticNetwork(id="n", link="e"))
    _raises(spec, TemplateInvalid, "spec.networkData.networks.ipv4[0].ipAddressFromIPPool")
    assert [field for field, _ in problems(spec)] == ["spec.networkData.networks.ipv4[0].ipAddressFromIPPool"]


def test_pool_named_by_a_missing_annotation_is_missing_input() -> None:
    annotation = FromAnnotation(object="metal3machine", annotation="example.com/pool")
    spec = _static(StaticNetwork(id="n", link="e", from_pool_annotation=annotation))
    _raises(spec, RenderingInputMissing, "spec.networkData.networks.ipv4[0].fromPoolAnnotation")
    with pytest.raises(RenderingInputMissing):
        referenced_pools(spec, OBJECTS)


def test_route_gateway_literal_wins_over_pools() -> None:
    gateway = Gateway(string="198.51.100.1", from_ip_pool="pool-a")
    route = Route(network="10.0.0.0", prefix=8, gateway=gateway)
    spec = DataTemplateSpec(
        network_data=NetworkData(
            networks=Networks(ipv4_dhcp=(DhcpNetwork(id="d", link="e", routes=(route,)),))
        )
    )
    routes = (render(spec, INPUTS).network_data or {})["networks"][0]["routes"]
    assert routes == [
        {"network": "10.0.0.0", "netmask": "255.0.0.0", "gateway": "198.51.100.1", "services": []}
    ]


def test_route_without_gateway_renders_an_empty_one() -> None:
    spec = DataTemplateSpec(
        network_data=NetworkData(
            networks=Networks(
                ipv6_slaac=(DhcpNetwork(id="s", link="e", routes=(Route(network="2001:db8::"),)),)
            )
        )
    )
    routes = (render(spec, INPUTS).network_data or {})["networks"][0]["routes"]
    assert routes == [{"network": "2001:db8::", "netmask": "::", "gateway": "", "services": []}]


def test_services_dns_from_an_unallocated_pool_is_missing_input() -> None:
    spec = DataTemplateSpec(network_data=NetworkData(services=Services(dns_from_ip_pool="pool-z")))
    _raises(spec, RenderingInputMissing, "spec.networkData.services.dnsFromIPPool")


def test_one_pool_name_for_two_kinds_of_pool_is_invalid() -> None:
    networks = Networks(
        ipv4=(
            StaticNetwork(id="a", link="e", ip_address_from_ip_pool="shared"),
            StaticNetwork(
                id="b",
                link="e",
                from_pool_ref=IPPoolReference(
                    name="shared", kind="InClusterIPPool", api_group="ipam.cluster.x-k8s.io"
                ),
            ),
        )
    )
    with pytest.raises(TemplateInvalid) as caught:
        referenced_pools(DataTemplateSpec(network_data=NetworkData(networks=networks)), OBJECTS)
    assert caught.value.field == "spec.networkData.networks.ipv4[1].fromPoolRef"


# --- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(
            _network(ethernets=(EthernetLink(type="phy", id="e", mtu=9001),)),
            "spec.networkData.links.ethernets[0].mtu",
            id="mtu",
        ),
        pytest.param(
            _network(vlans=(VlanLink(vlan_id=4097, id="v", vlan_link="e"),)),
            "spec.networkData.links.vlans[0].vlanID",
            id="vlan",
        ),
        pytest.param(
            _network(ethernets=(EthernetLink(type="phy", id="e", mac_address=MacAddress()),)),
            "spec.networkData.links.ethernets[0].macAddress",
            id="empty-mac",
        ),
        pytest.param(
            _static(
                StaticNetwork(
                    id="n",
                    link="e",
                    ip_address_from_ip_pool="p",
                    routes=(Route(network="10.0.0.0", prefix=33),),
                )
            ),
            "spec.networkData.networks.ipv4[0].routes[0].prefix",
            id="route-prefix",
        ),
        pytest.param(
            DataTemplateSpec(meta_data=MetaData(indexes=(MetaDataIndex(key="k", step=0),))),
            "spec.metaData.indexes[0].step",
            id="step",
        ),
        pytest.param(
            DataTemplateSpec(meta_data=MetaData(indexes=(MetaDataIndex(key="k", offset=-1),))),
            "spec.metaData.indexes[0].offset",
            id="offset",
        ),
    ],
)
def test_validation_names_the_bad_field(spec: DataTemplateSpec, field: str) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(spec)
    assert caught.value.field == field

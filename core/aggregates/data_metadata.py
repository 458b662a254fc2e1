"""Rendering a template's ``metaData`` into the flat string map cloud-init reads as meta_data.

Sources are applied in CAPM3's order, so when two sources set the same key the later one wins
exactly as it does there: host interfaces, pool addresses, prefixes, gateways, indexes,
namespaces, object names, labels, annotations, strings, and finally ``providerid``
(``<namespace>/<host>/<metal3machine>``), which no source can override.

``dnsServersFromPool`` entries make the machine claim an address from their pool (see
``data_rendering.referenced_pools``) but render no key: CAPM3 has no renderer for them, and a
template moved from CAPM3 must render the same secret here.
"""

from __future__ import annotations

from core.aggregates.data_inputs import RenderingInput, RenderingInputMissing, TemplateInvalid
from core.events.data_template_values import FromPool, MetaData

_BASE = "spec.metaData"


def provider_id_key(inputs: RenderingInput) -> str:
    """The ``providerid`` metadata value: ``<namespace>/<host>/<metal3machine>`` (no scheme)."""
    return f"{inputs.namespace}/{inputs.objects.host.name}/{inputs.objects.metal3machine.name}"


def render_meta_data(meta: MetaData, inputs: RenderingInput) -> dict[str, str]:
    """The metadata map for one machine; raises ``DataRenderingError`` naming the field it could not fill."""
    out: dict[str, str] = {}
    _host_interfaces(meta, inputs, out)
    _from_pools(meta, inputs, out)
    for i, index in enumerate(meta.indexes):
        step = index.step or 1  # CAPM3 treats an unset (zero) step as 1
        if step < 0 or index.offset < 0:
            raise TemplateInvalid(
                field=f"{_BASE}.indexes[{i}]", detail="step must be at least 1 and offset at least 0"
            )
        out[index.key] = f"{index.prefix}{index.offset + inputs.index * step}{index.suffix}"
    for namespace in meta.namespaces:
        out[namespace.key] = inputs.namespace
    for name in meta.object_names:
        out[name.key] = inputs.objects.of(name.object).name
    for label in meta.from_labels:
        out[label.key] = inputs.objects.of(label.object).labels.get(label.label, "")
    for annotation in meta.from_annotations:
        out[annotation.key] = inputs.annotation(annotation.object, annotation.annotation)
    for string in meta.strings:
        out[string.key] = string.value
    out["providerid"] = provider_id_key(inputs)
    return out


def _host_interfaces(meta: MetaData, inputs: RenderingInput, out: dict[str, str]) -> None:
    for i, entry in enumerate(meta.from_host_interfaces):
        field = f"{_BASE}.fromHostInterfaces[{i}]"
        if entry.from_boot_mac and entry.interface:
            raise TemplateInvalid(field=field, detail="set either interface or fromBootMAC, not both")
        if entry.from_boot_mac:
            if not inputs.boot_mac_address:
                host = inputs.objects.host.name
                raise RenderingInputMissing(
                    field=f"{field}.fromBootMAC",
                    detail=f"metadata key {entry.key!r}: host {inputs.namespace}/{host} "
                    "has no spec.bootMACAddress",
                )
            out[entry.key] = inputs.boot_mac_address
        elif not entry.interface:
            raise TemplateInvalid(
                field=f"{field}.interface", detail="name the host interface, or set fromBootMAC: true"
            )
        else:
            out[entry.key] = inputs.nic_mac(entry.interface, field=f"{field}.interface")


def _from_pools(meta: MetaData, inputs: RenderingInput, out: dict[str, str]) -> None:
    def each(entries: tuple[FromPool, ...], name: str) -> list[tuple[str, str, FromPool]]:
        return [(entry.key, f"{_BASE}.{name}[{i}].name", entry) for i, entry in enumerate(entries)]

    for key, field, entry in each(meta.ip_addresses_from_pool, "ipAddressesFromPool"):
        out[key] = inputs.pool(entry.name, field=field).address
    for key, field, entry in each(meta.prefixes_from_pool, "prefixesFromPool"):
        prefix = inputs.pool(entry.name, field=field).prefix
        if prefix is None:
            raise RenderingInputMissing(
                field=field, detail=f"the address allocated from IP pool {entry.name!r} has no prefix"
            )
        out[key] = str(prefix)
    for key, field, entry in each(meta.gateways_from_pool, "gatewaysFromPool"):
        out[key] = inputs.pool(entry.name, field=field).gateway

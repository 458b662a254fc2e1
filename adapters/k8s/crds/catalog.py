"""Every CRD metalstream serves, in install order, and lookups by kind and group.

The installer and the generator both take ``ALL``; an informer or writer that needs a kind's
``Resource`` looks it up here (``by_kind("BareMetalHost").resource``) rather than spelling the
group, version and plural again. Names are checked for clashes at import: two kinds with one
short name would make ``kubectl get <short>`` ambiguous.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from adapters.k8s.crds import capm3, ipam, metal3io
from adapters.k8s.crds.declaring import CrdDeclaration
from adapters.k8s.crds.schema import SchemaError

GROUPS: Final = (metal3io.GROUP, ipam.GROUP, capm3.GROUP)
ALL: Final[tuple[CrdDeclaration, ...]] = (*metal3io.DECLARATIONS, *ipam.DECLARATIONS, *capm3.DECLARATIONS)


def _check_unique() -> None:
    names = Counter(
        name
        for declaration in ALL
        for name in {
            declaration.kind.lower(),
            declaration.resource.plural,
            declaration.singular,
            *declaration.short_names,
        }
    )
    taken = sorted(name for name, count in names.items() if count > 1)
    if taken:
        msg = f"resource names used by more than one kind: {taken}"
        raise SchemaError(msg)


_check_unique()
_BY_KIND: Final = {declaration.kind: declaration for declaration in ALL}


def by_kind(kind: str) -> CrdDeclaration:
    """The declaration of ``kind`` (e.g. ``"BareMetalHost"``); ``KeyError`` naming the known kinds."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        msg = f"no CRD declared for kind {kind!r}; known kinds: {', '.join(sorted(_BY_KIND))}"
        raise KeyError(msg) from None


def in_group(group: str) -> tuple[CrdDeclaration, ...]:
    """The declarations of one API group, in install order."""
    return tuple(declaration for declaration in ALL if declaration.group == group)

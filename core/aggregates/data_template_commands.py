"""Commands a Metal3DataTemplate accepts: its spec from Kubernetes, and index claims from Metal3DataClaims.

Every command carries ``now`` like the host commands do, so ``decide`` never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import msgspec

from core.events.data_template_values import DataTemplateSpec


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime


class ApplyTemplateSpec(_Command, frozen=True, kw_only=True):
    """Create the template or record a new spec generation; older or equal generations are ignored."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: DataTemplateSpec


class ClaimIndex(_Command, frozen=True, kw_only=True):
    """Metal3DataClaim ``claim`` needs an index; asking again returns the one it holds."""

    claim: str


class ReleaseIndex(_Command, frozen=True, kw_only=True):
    """Metal3DataClaim ``claim`` is gone: its index may be reused."""

    claim: str


class RequestTemplateDeletion(_Command, frozen=True, kw_only=True):
    """The template got a deletionTimestamp."""


DataTemplateCommand: TypeAlias = ApplyTemplateSpec | ClaimIndex | ReleaseIndex | RequestTemplateDeletion

"""The event vocabulary a churn model was trained with: which event types and modules get their own columns.

Learned from the data at training (``features.vocabulary_learning``), kept in the feature settings
(``FeatureSettings.learned_vocabulary``) and so in every feature spec and model, so serving and batch scoring build
exactly the training columns (``features.behaviour_vocabulary``). ``groups`` turns it into column groups with
stable, unique name prefixes (``ev_post``, ``mod_feed``, ``ev_other``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OTHER = "other"
TYPE_PREFIX = "ev_"
MODULE_PREFIX = "mod_"
NAME_PATTERN = r"^(ev|mod)_[a-z0-9_]+$"
"""Every column this module makes matches it (the API accepts such fields besides the catalog's)."""
_SLUG_LENGTH = 40


class EventVocabulary(BaseModel):
    """What training learned: the event types and modules that get their own columns, in column order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(ge=1, description="The window W of the columns (the label horizon at training).")
    event_types: tuple[str, ...] = Field(description="Event types with their own columns; the rest are other.")
    modules: tuple[str, ...] = Field(description="Modules with their own columns; the rest are other.")
    value_types: tuple[str, ...] = Field((), description="Event types whose value varies (they get a value sum).")
    other_types: bool = Field(
        True, description="Whether the types without their own columns get other columns (some were left out)."
    )
    other_modules: bool = Field(True, description="The same for modules.")


GroupKind = Literal["type", "module"]


@dataclass(frozen=True)
class Group:
    """One column group: a learned type or module, or the ``other`` bucket (``name`` None)."""

    kind: GroupKind
    name: str | None
    code: int
    """Position in the vocabulary (``other`` comes last): the code the event rows carry."""
    prefix: str
    """The group's column prefix, e.g. ``ev_post`` or ``mod_other``."""
    has_value: bool = False

    @property
    def label(self) -> str:
        """How a phrase names the group: ``"post"``, ``module "feed"``, or the other bucket."""
        if self.name is None:
            return "rare event types" if self.kind == "type" else "rare modules"
        quoted = '"' + self.name.replace("{", "{{").replace("}", "}}") + '"'
        return quoted if self.kind == "type" else f"module {quoted}"


def slug(name: str) -> str:
    """A column-name part for ``name``: lower case letters, digits and underscores ("View Ad" -> "view_ad")."""
    text = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:_SLUG_LENGTH].strip("_")
    return text or "x"


def _prefixed(names: Sequence[str], prefix: str) -> list[str]:
    """Unique prefixes in order; a clash (two names with one slug, or a type called other) gets _2, _3, ..."""
    taken = {prefix + OTHER}
    out = []
    for name in names:
        base = prefix + slug(name)
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def groups(vocabulary: EventVocabulary) -> list[Group]:
    """Every column group in column order: the types, other types, the modules, other modules."""
    out: list[Group] = []
    values = set(vocabulary.value_types)
    for kind, names, prefix in (
        ("type", vocabulary.event_types, TYPE_PREFIX),
        ("module", vocabulary.modules, MODULE_PREFIX),
    ):
        for code, (name, pre) in enumerate(zip(names, _prefixed(names, prefix), strict=True)):
            out.append(Group(kind, name, code, pre, has_value=kind == "type" and name in values))  # type: ignore[arg-type]
        if vocabulary.other_types if kind == "type" else vocabulary.other_modules:
            out.append(Group(kind, None, len(names), prefix + OTHER))  # type: ignore[arg-type]
    return out

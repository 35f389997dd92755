"""Dataset references: ``[NAMESPACE/]DATASET[:SELECTOR]``.

DATASET is a dataset ID (``ds`` + 13) or a dataset name. SELECTOR picks a version:

- absent or ``latest``: the newest committed version (the first row of ``versions list``);
- otherwise the selector names a version ID of that dataset **or** a tag of it, never both.

The rule that keeps that unambiguous: ``latest`` is reserved and can be neither a tag nor a
version; a tag may not be set with the name of an existing version ID of its dataset; a new
version ID is never drawn equal to an existing tag name. So at any moment a selector names at
most one thing, and it is resolved as: ``latest`` → version ID → tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cargohold.domain.ids import is_dataset_id, is_team_id, is_workflow_id
from cargohold.errors import InvalidName, InvalidReference

LATEST = "latest"
PUBLIC_NAMESPACES = frozenset({"gradient", "public"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SELECTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference; it says nothing yet about what exists."""

    dataset: str
    selector: str | None = None
    namespace: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.selector is None or self.selector == LATEST

    @property
    def by_id(self) -> bool:
        return is_dataset_id(self.dataset)

    def __str__(self) -> str:
        text = f"{self.namespace}/{self.dataset}" if self.namespace else self.dataset
        return f"{text}:{self.selector}" if self.selector else text


def parse_ref(text: str) -> Ref:
    """Parse a reference, rejecting malformed ones with a message naming the problem."""
    raw = text.strip()
    namespace: str | None = None
    if "/" in raw:
        namespace, _, raw = raw.partition("/")
        if not _NAME.fullmatch(namespace):
            raise InvalidReference(f"Invalid namespace in reference {text!r}", ref=text)
    dataset, sep, selector = raw.partition(":")
    if not dataset:
        raise InvalidReference(f"The reference {text!r} is missing the dataset ID", ref=text)
    if not (is_dataset_id(dataset) or _NAME.fullmatch(dataset)):
        raise InvalidReference(f"Invalid dataset ID or name in reference {text!r}", ref=text)
    if sep and not _SELECTOR.fullmatch(selector):
        raise InvalidReference(f"Invalid version or tag in reference {text!r}", ref=text)
    return Ref(dataset=dataset, selector=selector if sep else None, namespace=namespace)


def check_dataset_name(name: str) -> str:
    _check_name("dataset", name)
    if is_dataset_id(name):
        raise InvalidName(
            f"Invalid dataset name: {name!r} has the shape of a dataset ID",
            hint="Choose a name that is not 'ds' followed by 13 letters or digits",
            name=name,
        )
    return name


def check_team_name(name: str) -> str:
    """A team's name is also its namespace in references (`TEAM/DATASET`)."""
    _check_name("team", name)
    if name.lower() in PUBLIC_NAMESPACES:
        raise InvalidName(
            f"Invalid team name: {name!r} is reserved for public datasets",
            hint="Choose another name",
            name=name,
        )
    if is_team_id(name):
        raise InvalidName(
            f"Invalid team name: {name!r} has the shape of a team ID",
            hint="Choose a name that is not 'te' followed by 7 letters or digits",
            name=name,
        )
    return name


def check_workflow_name(name: str) -> str:
    """Never shaped like a workflow ID, so that a key names a workflow one way only."""
    _check_name("workflow", name)
    if is_workflow_id(name):
        raise InvalidName(
            f"Invalid workflow name: {name!r} has the shape of a workflow ID (a UUID)",
            hint="Choose a name that is not a UUID",
            name=name,
        )
    return name


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"Invalid {kind} name: {name!r}",
            hint="Use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            name=name,
        )


def check_tag_name(name: str) -> str:
    if not _TAG.fullmatch(name) or name.lower() == LATEST:
        raise InvalidName(
            f"Invalid tag name: {name!r}",
            hint="Use 1-64 letters, digits, '.', '_' or '-'; 'latest' is reserved",
            name=name,
        )
    return name

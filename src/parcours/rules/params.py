"""The law as dated data: strict loading of the YAML parameter tree.

Each file under ``parameters/`` is a node of the tree; its path gives the parameter names
(``tariffs/ngap.yaml`` holds ``tariffs.ngap.G``…). A leaf is a mapping with ``values``: each value is keyed by the
date from which it applies and holds until the next date (a ``null`` value ends the parameter). Every value names
its legal sources by id from ``sources.yaml`` and may be flagged ``unconfirmed`` when no public text was found.

Loading is strict because a misplaced key silently ignored is how a wrong figure reaches a claim: unknown keys,
duplicate keys, unknown source ids, a value without a source, a value of the wrong unit are all errors.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from parcours.rules.money import to_basis_points, to_cents

PARAMETERS_DIR = Path(__file__).with_name("parameters")
SOURCES_FILE = "sources.yaml"

Unit = Literal["EUR", "percent", "count", "hours", "days", "months", "years", "bool", "date", "text", "codes"]


class ParameterError(ValueError):
    """A parameter file breaks the format; the message names the file and the key."""


class NoValueInForceError(LookupError):
    """No value of a parameter applies on the asked date."""

    def __init__(self, path: str, on: dt.date) -> None:
        super().__init__(f"aucune valeur en vigueur le {on.isoformat()} pour le paramètre {path}")
        self.path = path
        self.on = on


class _StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_StrictModel):
    """A legal text, an official page, a specification or a press page that a value rests on."""

    title: str
    href: str | None = None
    kind: Literal["law", "official", "specification", "press", "professional", "derived"]
    note: str | None = None


class SourceRef(_StrictModel):
    id: str
    article: str | None = None


@lru_cache(maxsize=512)
def source_refs(*refs: str) -> tuple[SourceRef, ...]:
    """Sources written as in the brief, "S5:RG_VF670" = source S5, article RG_VF670; built once, since rules and
    explanation steps cite the same ones on every event."""
    out = []
    for ref in refs:
        source_id, _, article = ref.partition(":")
        out.append(SourceRef(id=source_id, article=article or None))
    return tuple(out)


class _ValueEntry(_StrictModel):
    value: Any
    sources: list[str | SourceRef] = Field(min_length=1)
    unconfirmed: bool = False
    note: str | None = None


class _LeafSpec(_StrictModel):
    description: str
    unit: Unit
    values: dict[dt.date, _ValueEntry] = Field(min_length=1)
    documentation: str | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _dates_only(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            for key in raw:
                if not isinstance(key, dt.date) or isinstance(key, dt.datetime):
                    raise ValueError(f"value key {key!r} is not a date (YYYY-MM-DD)")
        return raw


@dataclass(frozen=True, slots=True)
class DatedValue:
    """One value of a parameter, with the date it applies from and what it rests on."""

    valid_from: dt.date
    value: Any
    sources: tuple[SourceRef, ...]
    unconfirmed: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class Parameter:
    path: str
    description: str
    unit: Unit
    values: tuple[DatedValue, ...]
    documentation: str | None
    _starts: tuple[dt.date, ...]

    def at(self, on: dt.date) -> DatedValue:
        index = bisect_right(self._starts, on) - 1
        if index < 0 or self.values[index].value is None:
            raise NoValueInForceError(self.path, on)
        return self.values[index]

    def in_force(self, on: dt.date) -> bool:
        index = bisect_right(self._starts, on) - 1
        return index >= 0 and self.values[index].value is not None

    @property
    def unconfirmed(self) -> bool:
        return any(v.unconfirmed for v in self.values)


SNAPSHOTS_CACHED = 8192  # dates whose snapshot is kept (about 22 years of days)


class Snapshot(Mapping[str, Any]):
    """The values in force on one date, by parameter path. Cheap to query, cached per date."""

    __slots__ = ("_entries", "_parameters", "on")

    def __init__(self, parameters: ParameterSet, on: dt.date) -> None:
        self.on = on
        self._parameters = parameters
        self._entries: dict[str, DatedValue] = {}

    def entry(self, path: str) -> DatedValue:
        found = self._entries.get(path)
        if found is None:
            found = self._parameters.parameter(path).at(self.on)
            self._entries[path] = found
        return found

    def __getitem__(self, path: str) -> Any:
        return self.entry(path).value

    def unit(self, path: str) -> Unit:
        return self._parameters.parameter(path).unit

    def get_or(self, path: str, default: Any) -> Any:
        """The value in force, or ``default`` when the parameter exists but has no value on this date."""
        try:
            return self.entry(path).value
        except NoValueInForceError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters.paths())

    def __len__(self) -> int:
        return len(self._parameters.paths())


class ParameterSet:
    """All parameters and the sources they cite."""

    def __init__(self, parameters: dict[str, Parameter], sources: dict[str, Source]) -> None:
        self._parameters = parameters
        self.sources = sources
        self._snapshot = lru_cache(maxsize=SNAPSHOTS_CACHED)(self._make_snapshot)

    def paths(self) -> list[str]:
        return list(self._parameters)

    def parameter(self, path: str) -> Parameter:
        try:
            return self._parameters[path]
        except KeyError:
            raise KeyError(f"unknown parameter {path}") from None

    def __contains__(self, path: object) -> bool:
        return path in self._parameters

    def children(self, prefix: str) -> dict[str, Parameter]:
        """Direct leaves under a node: ``children('tariffs.ngap')`` → {'G': …, 'APC': …}."""
        head = prefix + "."
        return {
            path[len(head) :]: parameter
            for path, parameter in self._parameters.items()
            if path.startswith(head) and "." not in path[len(head) :]
        }

    def at(self, on: dt.date) -> Snapshot:
        return self._snapshot(on)

    def _make_snapshot(self, on: dt.date) -> Snapshot:
        return Snapshot(self, on)

    def change_dates(self) -> list[dt.date]:
        """Every date on which some value changes: the edges a test of 'before and after' must straddle."""
        return sorted({v.valid_from for p in self._parameters.values() for v in p.values})


# --- loading -----------------------------------------------------------------------------------------------


# libyaml's parser when PyYAML was built with it: the pure-Python one takes about a second for the parameters, paid
# by every batch worker and every process that starts
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise ParameterError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file strictly (duplicate keys are errors)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_StrictLoader)
    except ParameterError as exc:
        raise ParameterError(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path.name}: invalid YAML: {exc}") from None


_NODE_KEYS = {"description", "documentation"}


def _convert(unit: Unit, raw: Any, where: str) -> Any:
    if raw is None:
        return None
    try:
        if unit == "EUR":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError("expected an amount in euros")
            return to_cents(raw)
        if unit == "percent":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError("expected a percentage")
            return to_basis_points(raw)
        if unit in ("count", "hours", "days", "months", "years"):
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise ValueError(f"expected a whole number of {unit}")
            return raw
        if unit == "bool":
            if not isinstance(raw, bool):
                raise ValueError("expected true or false")
            return raw
        if unit == "date":
            if not isinstance(raw, dt.date):
                raise ValueError("expected a date")
            return raw
        if unit == "codes":
            if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
                raise ValueError("expected a list of codes")
            if len(set(raw)) != len(raw):
                raise ValueError("duplicate code in list")
            return frozenset(raw)
        if not isinstance(raw, str):
            raise ValueError("expected text")
        return raw
    except ValueError as exc:
        raise ParameterError(f"{where}: {exc} (got {raw!r})") from None


def _walk(
    node: Any,
    path: str,
    where: str,
    sources: Mapping[str, Source],
    out: dict[str, Parameter],
    origins: dict[str, str],
) -> None:
    if not isinstance(node, dict):
        raise ParameterError(f"{where}: {path} must be a mapping")
    if "values" in node:
        try:
            spec = _LeafSpec.model_validate(node)
        except ValidationError as exc:
            raise ParameterError(f"{where}: parameter {path}: {exc}") from None
        if path in out:
            # Two files defining one path (``tariffs.yaml: ngap: G`` and ``tariffs/ngap.yaml: G``): refuse rather
            # than let the file read last win.
            raise ParameterError(f"{where}: parameter {path} is already defined in {origins[path]}")
        values = []
        for start in sorted(spec.values):
            entry = spec.values[start]
            refs = tuple(ref if isinstance(ref, SourceRef) else SourceRef(id=ref) for ref in entry.sources)
            for ref in refs:
                if ref.id not in sources:
                    raise ParameterError(f"{where}: {path} on {start}: unknown source {ref.id!r}")
            values.append(
                DatedValue(
                    valid_from=start,
                    value=_convert(spec.unit, entry.value, f"{where}: {path} on {start}"),
                    sources=refs,
                    unconfirmed=entry.unconfirmed,
                    note=entry.note,
                )
            )
        out[path] = Parameter(
            path=path,
            description=spec.description,
            unit=spec.unit,
            values=tuple(values),
            documentation=spec.documentation,
            _starts=tuple(v.valid_from for v in values),
        )
        origins[path] = where
        return
    for key, child in node.items():
        if key in _NODE_KEYS:
            if not isinstance(child, str):
                raise ParameterError(f"{where}: {path}.{key} must be text")
            continue
        if not isinstance(key, str) or not key.replace("_", "").isalnum():
            raise ParameterError(f"{where}: invalid parameter name {key!r} under {path or 'root'}")
        _walk(child, f"{path}.{key}" if path else key, where, sources, out, origins)


def parameters_of_tree(node: Any, prefix: str, where: str, sources: Mapping[str, Source]) -> dict[str, Parameter]:
    """The parameters a YAML tree (as one parameter file holds it) defines under ``prefix``, checked as strictly as
    when the whole directory is loaded (``parcours params import-ccam`` checks what it is about to write)."""
    out: dict[str, Parameter] = {}
    _walk(node, prefix, where, sources, out, {})
    return out


def load_sources(directory: Path) -> dict[str, Source]:
    raw = read_yaml(directory / SOURCES_FILE)
    if not isinstance(raw, dict):
        raise ParameterError(f"{SOURCES_FILE}: must map source ids to sources")
    sources = {}
    for key, value in raw.items():
        try:
            sources[str(key)] = Source.model_validate(value)
        except ValidationError as exc:
            raise ParameterError(f"{SOURCES_FILE}: source {key}: {exc}") from None
    return sources


def load_parameters(directory: Path = PARAMETERS_DIR) -> ParameterSet:
    """Load and check the whole tree. Raises ParameterError naming the file and key on any defect."""
    sources = load_sources(directory)
    parameters: dict[str, Parameter] = {}
    origins: dict[str, str] = {}
    for file in sorted(directory.rglob("*.yaml")):
        relative = file.relative_to(directory)
        if relative.as_posix() == SOURCES_FILE:
            continue
        prefix = ".".join(relative.with_suffix("").parts)
        _walk(read_yaml(file), prefix, relative.as_posix(), sources, parameters, origins)
    return ParameterSet(parameters, sources)


@lru_cache(maxsize=1)
def default_parameters() -> ParameterSet:
    """The parameters shipped with parcours, loaded once per process."""
    return load_parameters()

"""The routing file: which event kinds go to which providers, and per-provider settings.

One file, YAML or TOML by its extension, named by ``RISKRELAY_ROUTING_FILE``
(docs/routing.md). It is validated whole at start-up, so a mistake is one line naming the
file, the line (YAML) and the field, never a half-started worker. The provider settings
it may hold are ``ProviderSettings``' own fields, so the two never disagree. Without a file
every configured provider receives every event its adapter accepts.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, cast, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from riskrelay.errors import ConfigError
from riskrelay.models import FAMILY_SCHEMAS, Envelope, Family, Operation, SourcePosition
from riskrelay.schemas import schema_text
from riskrelay.settings import PROVIDERS, ProviderName, ProviderSettings, ProvidersSettings

WILDCARD = "*"
"""A family's route for every kind it does not name."""

Loc = tuple[Any, ...]


@cache
def family_kinds(family: Family) -> tuple[str, ...]:
    """The kinds of a family: its contract's ``event_type`` symbols, lower-cased as
    ``Envelope.kind`` spells them."""
    schema = json.loads(schema_text(FAMILY_SCHEMAS[family]))
    event_type = next(f for f in schema["fields"] if f["name"] == "event_type")
    return tuple(symbol.lower() for symbol in event_type["type"]["symbols"])


def probe_envelope(family: Family, kind: str) -> Envelope:
    """An envelope of one family and kind, to ask an adapter's ``accepts`` ahead of any
    event (its answer depends on family and kind only)."""
    return Envelope(
        event_id="",
        subject_id="",
        family=family,
        kind=kind,
        operation=Operation.CREATE,
        upsert_on_conflict=False,
        occurred_at=datetime.fromtimestamp(0, UTC),
        source=SourcePosition("", 0, 0),
    )


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Per family: kind (or ``*``) → provider names. A family the table does not name is
    left to the default: every provider whose adapter accepts the event."""

    families: Mapping[Family, Mapping[str, tuple[ProviderName, ...]]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def names(self, family: Family, kind: str) -> tuple[ProviderName, ...] | None:
        """The providers routed this kind; ``None`` when the family is left to the default."""
        kinds = self.families.get(family)
        if kinds is None:
            return None
        return kinds.get(kind, kinds.get(WILDCARD, ()))

    def sends(self, provider: str, family: Family, kind: str) -> bool:
        names = self.names(family, kind)
        return names is None or provider in names

    @property
    def named(self) -> frozenset[ProviderName]:
        return frozenset(n for kinds in self.families.values() for ns in kinds.values() for n in ns)

    def refused(self, provider: str, accepts: Callable[[Envelope], bool]) -> list[str]:
        """The kinds routed to ``provider`` that its adapter does not take (``accepts``), as
        ``family kind``: skipped at run time, worth saying once at start."""
        return [
            f"{family.lower()} {kind}"
            for family in self.families
            for kind in family_kinds(family)
            if provider in (self.names(family, kind) or ())
            and not accepts(probe_envelope(family, kind))
        ]


DEFAULT_ROUTES = RouteTable()


@dataclass(frozen=True, slots=True)
class Routing:
    """A loaded routing file: its routes and the provider settings it sets."""

    routes: RouteTable = DEFAULT_ROUTES
    provider_values: Mapping[ProviderName, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def apply(self, providers: ProvidersSettings) -> ProvidersSettings:
        """Environment > file > built-in defaults: what the environment (or the code that
        built ``providers``) set is kept, the file fills in the rest. Idempotent."""
        updates: dict[str, ProviderSettings] = {}
        for name, values in self.provider_values.items():
            current = providers.get(name)
            explicit = {k: getattr(current, k) for k in current.model_fields_set}
            try:
                updates[name] = type(current)(**{**values, **explicit})
            except ValidationError as exc:  # the file's values were valid alone
                raise ConfigError(f"providers.{name}: {exc.errors()[0]['msg']}") from None
        return providers.model_copy(update=updates) if updates else providers

    def unreachable(
        self, providers: ProvidersSettings, adapters: Collection[str]
    ) -> dict[ProviderName, str]:
        """Providers the routes name that will receive nothing, and why: not an error (a
        provider is switched off by configuration), but worth saying once at start."""
        reasons: dict[ProviderName, str] = {}
        for name in sorted(self.routes.named):
            settings = providers.get(name)
            prefix = f"RISKRELAY_{name.upper()}_"
            if name not in adapters:
                reasons[name] = "this version has no adapter for it"
            elif not settings.enabled:
                reasons[name] = f"it is disabled ({prefix}ENABLED or providers.{name}.enabled)"
            elif not settings.base_url:
                reasons[name] = (
                    f"it has no base URL ({prefix}BASE_URL or providers.{name}.base_url)"
                )
        return reasons


def load_routing(path: str | None) -> Routing:
    """The routing file at ``path``, validated; the default routing without one."""
    if path is None:
        return Routing()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the routing file: {exc.strerror or exc}") from None
    suffix = Path(path).suffix.lower()
    lines: dict[Loc, int] = {}
    if suffix in (".yaml", ".yml"):
        data, lines = _parse_yaml(path, text)
    elif suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    else:
        raise ConfigError(f"{path}: unknown routing file type {suffix!r} (.yaml, .yml or .toml)")
    try:
        parsed = _routing_file_model().model_validate({} if data is None else data)
    except ValidationError as exc:
        raise ConfigError(_one_line(path, exc, lines)) from None
    return _routing(parsed.model_dump(exclude_unset=True, by_alias=True))


def _routing(values: dict[str, Any]) -> Routing:
    families = {
        Family(family.upper()): MappingProxyType(
            {kind: tuple(names) for kind, names in kinds.items()}
        )
        for family, kinds in (values.get("routes") or {}).items()
        if kinds is not None
    }
    providers = {
        name: MappingProxyType(_flat_options(section))
        for name, section in (values.get("providers") or {}).items()
        if section is not None
    }
    return Routing(RouteTable(MappingProxyType(families)), MappingProxyType(providers))


def _flat_options(section: dict[str, Any]) -> dict[str, Any]:
    """A provider's options are fields of its settings model like any other."""
    options = section.get("options") or {}
    return {**{k: v for k, v in section.items() if k != "options"}, **options}


# --- validation: pydantic models, built from the settings models and the contracts ---

_OWN_ERRORS = {"unknown_provider", "unknown_kind", "duplicate_provider"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    keys_are: ClassVar[str] = "key"


def _provider_name(value: str) -> str:
    if value not in PROVIDERS:
        raise PydanticCustomError(
            "unknown_provider",
            "unknown provider {name} (known: {known})",
            {"name": repr(value), "known": ", ".join(sorted(PROVIDERS))},
        )
    return value


def _no_duplicates(names: list[str]) -> list[str]:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise PydanticCustomError(
                "duplicate_provider", "{name} is listed twice", {"name": repr(name)}
            )
    return names


RouteList = Annotated[
    list[Annotated[str, AfterValidator(_provider_name)]], AfterValidator(_no_duplicates)
]


def _kind_key(family: Family) -> Any:
    known = family_kinds(family)

    def kind(value: str) -> str:
        if value != WILDCARD and value not in known:
            raise PydanticCustomError(
                "unknown_kind",
                "unknown {family} kind {name} (known: {known}, or '*' for every other kind)",
                {"family": family.lower(), "name": repr(value), "known": ", ".join(known)},
            )
        return value

    return Annotated[str, AfterValidator(kind)]


def _file_field(info: FieldInfo) -> tuple[Any, None]:
    """A settings field as the file takes it: same type and bounds, unset by default."""
    annotation = info.annotation
    if info.metadata:
        annotation = cast(Any, Annotated)[(annotation, *info.metadata)]
    return annotation, None


def _section(name: str, keys_are: str, fields: dict[str, Any]) -> type[_Section]:
    model = create_model(name, __base__=_Section, **fields)
    model.keys_are = keys_are
    return model


def _provider_model(name: ProviderName) -> type[_Section]:
    settings_type = cast(type[ProviderSettings], ProvidersSettings.model_fields[name].annotation)
    common = ProviderSettings.model_fields
    own = {k: _file_field(f) for k, f in settings_type.model_fields.items() if k not in common}
    options = _section(f"{name.title()}Options", f"{name} option", own)
    fields: dict[str, Any] = {k: _file_field(f) for k, f in common.items() if k != "api_key"}
    fields["options"] = (options | None, None)
    return _section(f"{name.title()}Section", f"{name} setting", fields)


@cache
def _routing_file_model() -> type[_Section]:
    providers: dict[str, Any] = {n: (_provider_model(n) | None, None) for n in PROVIDERS}
    routes = {
        family.lower(): (dict[_kind_key(family), RouteList] | None, None)  # type: ignore[misc]
        for family in Family
    }
    return _section(
        "RoutingFile",
        "section",
        {
            "providers": (_section("ProvidersSection", "provider", providers) | None, None),
            "routes": (_section("RoutesSection", "family", routes) | None, None),
        },
    )


# --- one readable line per invalid file ---


def _parse_yaml(path: str, text: str) -> tuple[Any, dict[Loc, int]]:
    """``yaml.safe_load``'s result, and the line of every key and list item in it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
        lines: dict[Loc, int] = {}
        _node_lines(path, loader, node, (), lines, set())
        return data, lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _node_lines(
    path: str,
    loader: yaml.SafeLoader,
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    parents: set[int],
) -> None:
    if id(node) in parents:  # a recursive alias
        return
    parents = parents | {id(node)}
    if isinstance(node, yaml.MappingNode):
        own: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = (
                loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            )
            line = key_node.start_mark.line + 1
            # Keys merged in with ``<<: *anchor`` live at the anchor, outside this mapping.
            if node.start_mark.index <= key_node.start_mark.index < node.end_mark.index:
                if key in own:
                    dotted = _dotted((*loc, key))
                    raise ConfigError(
                        f"{path}: line {line}: {dotted}: duplicate key (first on line {own[key]})"
                    )
                own[key] = line
            lines[(*loc, key)] = line
            _node_lines(path, loader, value_node, (*loc, key), lines, parents)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _node_lines(path, loader, item, (*loc, i), lines, parents)


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _line(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _model_at(loc: Loc) -> type[_Section] | None:
    model: type[_Section] | None = _routing_file_model()
    for part in loc:
        info = model.model_fields.get(str(part)) if model is not None else None
        if info is None:
            return None
        model = next(
            (a for a in (info.annotation, *get_args(info.annotation)) if _is_model(a)), None
        )
    return model


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, _Section)


def _message(error: ErrorDetails, loc: Loc) -> str:
    if not loc:
        return "the file must be a mapping with the sections providers and routes"
    if error["type"] == "extra_forbidden":
        model, key = _model_at(loc[:-1]), loc[-1]
        if key == "api_key" and model is not None and "api_key_env" in model.model_fields:
            return (
                "the routing file holds no secrets: name the variable that holds the key "
                "in api_key_env"
            )
        if model is not None:
            known = ", ".join(sorted(model.model_fields)) or "none"
            return f"unknown {model.keys_are} {key!r} (known: {known})"
    message = error["msg"]
    if error["type"] not in _OWN_ERRORS and not isinstance(error["input"], dict | list):
        message += f" (got {error['input']!r})"
    return message


def _one_line(path: str, exc: ValidationError, lines: Mapping[Loc, int]) -> str:
    """The first error in file order, e.g. ``config/routing.yaml: line 12:
    routes.payment.purchase[1]: unknown provider 'stirpe' (known: …)``."""
    errors = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if part != "[key]")
        errors.append((_line(loc, lines) or 0, loc, error))
    line, loc, error = min(errors, key=lambda e: e[0])
    where = f"line {line}: " if line else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {where}{_dotted(loc)}: {_message(error, loc)}{more}"

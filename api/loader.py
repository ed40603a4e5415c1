"""Load MetricSets from YAML, with errors that name the field, the value and the fix."""

from __future__ import annotations

from dataclasses import dataclass
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from metrics_operator.api.metricset import MetricSet


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a MetricSet: where (a field path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class MetricSetInvalid(ValueError):
    """Raised when a document is not a valid MetricSet; lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"invalid MetricSet in {source}:\n{lines}")


# A Kubernetes object has these top-level fields; anything else is a typo such as "spce".
TOP_LEVEL_FIELDS = {"apiVersion", "kind", "metadata", "spec", "status"}


def _format_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


def _format_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_at(model: type[BaseModel], location: tuple[Any, ...]) -> type[BaseModel] | None:
    """Return the model class that validated the object at ``location`` below ``model``, if any."""
    current: Any = model
    for part in location:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = next(
            (info for name, info in current.model_fields.items() if part in (name, info.alias)), None
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Return the model inside Optional[...], list[...] or dict[str, ...], or the annotation itself."""
    for argument in typing.get_args(annotation):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
        inner = _unwrap(argument) if typing.get_args(argument) else None
        if inner is not None and isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _known_fields(root: type[BaseModel], location: tuple[Any, ...]) -> str:
    model = _model_at(root, location[:-1])
    if model is None:
        return ""
    names = [info.alias or name for name, info in model.model_fields.items()]
    return f"; known fields: {', '.join(names)}"


def problems_from(error: ValidationError, root: type[BaseModel] = MetricSet) -> list[Problem]:
    """Turn pydantic's errors into problems with YAML field paths."""
    problems = []
    for detail in error.errors():
        if detail["type"] == "extra_forbidden":
            field = detail["loc"][-1]
            problems.append(Problem(_format_path(detail["loc"]), f"unknown field {field!r}{_known_fields(root, detail['loc'])}"))
            continue
        context = detail.get("ctx") or {}
        path = _format_path(detail["loc"])
        subpath = context.get("subpath")
        if subpath:
            path = f"{path}{'' if subpath.startswith('[') else '.'}{subpath}" if path != "(document)" else subpath
        message = detail["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        value = context.get("input", detail.get("input"))
        # A model-level error carries the whole object as input, which helps no one.
        if detail["type"] not in ("missing",) and not isinstance(value, dict) and "subpath" not in context:
            message = f"{message} (got {_format_value(value)})"
        elif "input" in context:
            message = f"{message} (got {_format_value(context['input'])})"
        problems.append(Problem(path, message))
    return problems


def parse_metricset(document: Any, source: str = "<input>") -> MetricSet:
    """Validate one parsed YAML document as a MetricSet."""
    if not isinstance(document, dict):
        raise MetricSetInvalid(source, [Problem("(document)", f"expected a mapping, got {_format_value(document)}")])
    kind = document.get("kind")
    if kind != "MetricSet":
        raise MetricSetInvalid(source, [Problem("kind", f"expected 'MetricSet' (got {_format_value(kind)})")])
    unknown = sorted(set(document) - TOP_LEVEL_FIELDS)
    if unknown:
        known = ", ".join(sorted(TOP_LEVEL_FIELDS))
        raise MetricSetInvalid(source, [Problem(name, f"unknown field {name!r}; known fields: {known}") for name in unknown])
    try:
        return MetricSet.model_validate(document)
    except ValidationError as error:
        raise MetricSetInvalid(source, problems_from(error)) from None


def load_metricsets(path: str | Path) -> list[MetricSet]:
    """Load every MetricSet in a YAML file; documents of other kinds are an error too."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise MetricSetInvalid(str(path), [Problem("(file)", f"cannot read file: {error.strerror}")]) from None
    return load_metricsets_text(text, str(path))


def _yaml_location(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(yaml)"


def _yaml_problem(error: yaml.YAMLError) -> str:
    # PyYAML's own text names "<unicode string>" as the file; the location is reported separately.
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    text = ", ".join(part for part in parts if part)
    return text or str(error)


def load_metricsets_text(text: str, source: str = "<input>") -> list[MetricSet]:
    """Load every MetricSet in a YAML string (one or more documents)."""
    try:
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as error:
        raise MetricSetInvalid(source, [Problem(_yaml_location(error), f"not valid YAML: {_yaml_problem(error)}")]) from None
    if not documents:
        raise MetricSetInvalid(source, [Problem("(document)", "no MetricSet found: the file is empty or only comments")])
    metricsets = []
    for index, document in enumerate(documents):
        label = source if len(documents) == 1 else f"{source} (document {index + 1})"
        metricsets.append(parse_metricset(document, label))
    return metricsets

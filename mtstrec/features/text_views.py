"""Item texts: the `text` modality's one string and the `prompt` modality's K views.

The paper generated the K views with an LLM. Here a view source is anything with
`k` and `views(items)`; templates over the item's attributes are the default, and
`register_view_source` lets an LLM-backed source plug in by name from config.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Protocol

from mtstrec.features.config import PromptConfig


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def item_text(title: str | None, description: str | None) -> str:
    """The `text` modality's input; "" when the item has neither title nor description."""
    title, description = _clean(title), _clean(description)
    if not title and not description:
        return ""
    return f"Title: {title} Description: {description}".strip()


class ViewSource(Protocol):
    k: int

    def views(self, items: list[dict]) -> list[list[str]]:
        """For each item (title, description, attributes), K strings; "" marks a view with no content."""
        ...


class _Fields(dict):
    """Attribute lookup for str.format_map where a missing key renders as empty."""

    def __missing__(self, key: str) -> str:
        return ""


_SEPARATOR_RUNS = re.compile(r"(\s*[,:;]\s*)+")


def _tidy(rendered: str) -> str:
    """Collapse the separators that empty placeholders leave behind ("a, , b" -> "a, b")."""
    text = _SEPARATOR_RUNS.sub(lambda m: m.group(0).strip()[0] + " ", _clean(rendered))
    return text.strip(" ,;:")


class TemplateViewSource:
    """K = len(templates) views, each a format string over title, description and attribute keys."""

    def __init__(self, templates: list[str]) -> None:
        self.templates = list(templates)
        self.k = len(self.templates)
        self._fields = [
            {name for _, name, _, _ in string.Formatter().parse(t) if name} for t in self.templates
        ]

    def views(self, items: list[dict]) -> list[list[str]]:
        out = []
        for item in items:
            fields = _Fields({k: _clean(v) for k, v in (item.get("attributes") or {}).items()})
            fields["title"] = _clean(item.get("title"))
            fields["description"] = _clean(item.get("description"))
            out.append([
                _tidy(template.format_map(fields)) if any(fields[name] for name in names) else ""
                for template, names in zip(self.templates, self._fields, strict=True)
            ])
        return out


VIEW_SOURCES: dict[str, Callable[[PromptConfig], ViewSource]] = {
    "templates": lambda cfg: TemplateViewSource(cfg.templates),
}


def register_view_source(name: str, factory: Callable[[PromptConfig], ViewSource]) -> None:
    """Make `features.prompt.view_source = name` build views with `factory(prompt_config)`."""
    VIEW_SOURCES[name] = factory


def build_view_source(cfg: PromptConfig) -> ViewSource:
    factory = VIEW_SOURCES.get(cfg.view_source)
    if factory is None:
        raise ValueError(f"features.prompt.view_source: unknown source {cfg.view_source!r}; "
                         f"registered: {sorted(VIEW_SOURCES)}")
    return factory(cfg)

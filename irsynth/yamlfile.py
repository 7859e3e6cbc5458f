"""Strict YAML reading for config and templates: no anchors, aliases or merge keys (an alias bomb cannot expand),
no duplicate keys (the last would silently win). Errors are `yaml.YAMLError`s that carry the line."""

from __future__ import annotations

import yaml
from yaml.constructor import ConstructorError

NULLS = ("null", "Null", "NULL", "~", "")


class _Strict:
    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConstructorError(None, None, "anchors and aliases (& and *) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or key_node.value == "<<":
                raise ConstructorError(None, None, "merge keys (<<) are not allowed", key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class StrictSafeLoader(_Strict, yaml.SafeLoader):
    """yaml.SafeLoader (typed scalars) made strict."""


class StrictTextLoader(_Strict, yaml.BaseLoader):
    """Every scalar stays text, except a plain null (null, ~, nothing) which is blank."""

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        return "" if node.style is None and value in NULLS else value


def load(text: str, loader=StrictSafeLoader):
    return yaml.load(text, Loader=loader)  # noqa: S506 (a strict subclass of SafeLoader or BaseLoader)


def error_line(err: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML error points at."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return mark.line + 1 if mark else None


def error_text(err: yaml.YAMLError) -> str:
    """A YAML error in one line, without its own position marks."""
    parts = [getattr(err, "context", None), getattr(err, "problem", None)]
    return "; ".join(p for p in parts if p) or str(err).splitlines()[0]

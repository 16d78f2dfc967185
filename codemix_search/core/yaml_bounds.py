"""Bounded YAML: ``yaml.safe_load`` within size, depth and expanded-size limits (pure: text in,
plain data out), so a hostile or broken file is one line, never a RecursionError or gigabytes."""

from __future__ import annotations

from typing import Any

import yaml

from codemix_search.errors import ConfigError

# Bounds on a YAML document: a space or sources file is a few KB; these stop a hostile or broken
# file (deep nesting -> RecursionError; an alias "bomb" whose expansion is gigabytes) before it
# is built, with one line.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 100_000  # counted with aliases expanded


MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last
    silently: ``lr: 0.1`` then ``lr: 10`` trains at 10). Keys a ``<<`` merge brings in may be
    overridden, as YAML means them to be."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base constructor refuses it
                    continue
                if duplicate:
                    raise DuplicateKey(key, key_node.start_mark)
        return super().construct_mapping(node, deep)


class DuplicateKey(yaml.constructor.ConstructorError):
    def __init__(self, key, mark):
        super().__init__(None, None, f"key {key!r} is given twice (the second would silently "
                         "win); keep one", mark)  # fmt: skip
        self.key, self.mark = key, mark


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` refusing duplicate keys (a ``yaml.YAMLError`` names the line)."""
    loader = UniqueKeyLoader(text)  # a SafeLoader: no tags that build objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _BoundedLoader(UniqueKeyLoader):
    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise _Bound(f"nested deeper than {MAX_YAML_DEPTH} levels", mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Bound(Exception):
    def __init__(self, why: str, mark=None):
        super().__init__(why)
        self.why, self.mark = why, mark


def _expanded_nodes(node, memo: dict) -> int:
    """Nodes of the document with every alias expanded (memoised: cheap even for a bomb)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a self-referencing alias counts once (and is refused by the builders)
    if isinstance(node, yaml.MappingNode):
        n = 1 + sum(_expanded_nodes(k, memo) + _expanded_nodes(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_expanded_nodes(v, memo) for v in node.value)
    else:
        n = 1
    memo[key] = min(n, 1 << 62)
    return memo[key]


def load_bounded(text: str, file: str) -> Any:
    """``yaml.safe_load`` within size, depth and expanded-size bounds; one-line errors."""
    if len(text.encode("utf-8", "ignore")) > MAX_YAML_BYTES:
        raise ConfigError(
            file, "", f"larger than {MAX_YAML_BYTES >> 20} MiB; is this a space file?"
        )
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, {}) > MAX_YAML_NODES:
            raise _Bound(f"expands to more than {MAX_YAML_NODES:,} values (aliases)")
        return loader.construct_document(node)
    except _Bound as e:
        where = f"line {e.mark.line + 1}" if e.mark else ""
        raise ConfigError(file, where, f"{e.why}; write the values out plainly") from None
    except DuplicateKey as e:
        raise ConfigError(file, f"line {e.mark.line + 1}", e.problem) from None
    finally:
        loader.dispose()

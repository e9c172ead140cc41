"""YAML loading that keeps line/column positions and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys and forgets where every value came from.
Both matter to a model owner reading an error, so this module composes the node tree
itself and builds plain Python data next to a map from key path to position.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medperf_action.errors import YamlError

KeyPath = tuple[str | int, ...]

#: Manifests and registry files are a few kB; anything this large is refused unread.
MAX_BYTES = 1 << 20
#: Bound on nodes visited, so that nested aliases ("billion laughs") cannot explode.
MAX_NODES = 200_000


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    col: int


@dataclass(frozen=True)
class Duplicate:
    path: KeyPath
    mark: Mark
    first: Mark


@dataclass
class Document:
    """Plain data plus where each value (and each mapping key) stands in the file."""

    data: Any
    values: dict[KeyPath, Mark] = field(default_factory=dict)
    keys: dict[KeyPath, Mark] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def mark(self, path: KeyPath, *, key: bool = False) -> Mark:
        """The position of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Mark(1, 1))


def _mark(node_mark: Any) -> Mark:
    return Mark(node_mark.line + 1, node_mark.column + 1)


def _position(text: str, index: int) -> Mark:
    before = text[:index]
    line = before.count("\n") + 1
    col = index - (before.rfind("\n") + 1) + 1
    return Mark(line, col)


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a YAML file as UTF-8, refusing large or undecodable files with a position."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}", code="io") from None
    if size > max_bytes:
        raise YamlError(
            f"file is {size:,} bytes; files over {max_bytes:,} bytes are refused unread",
            code="too-large",
        )
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}", code="io") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8", errors="replace")
        at = _position(good, len(good))
        raise YamlError(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
            at.line,
            at.col,
            code="encoding",
        ) from None


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.visited = 0

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            at = _mark(node.start_mark)
            raise YamlError(
                f"document expands to more than {MAX_NODES:,} nodes (nested aliases?)",
                at.line,
                at.col,
                code="too-large",
            )
        self.doc.values.setdefault(path, _mark(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                at = _mark(key_node.start_mark)
                raise YamlError("a mapping key must be a plain value", at.line, at.col)
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            key_mark = _mark(key_node.start_mark)
            child = (*path, key)
            if key in first_seen:
                self.doc.duplicates.append(Duplicate(child, key_mark, first_seen[key]))
                # Later values win in PyYAML; keep the first one's position for reporting.
            else:
                first_seen[key] = key_mark
                self.doc.keys[child] = key_mark
            self.doc.values[child] = _mark(value_node.start_mark)
            result[key] = self.build(value_node, child)
        return result


#: libyaml's parser when PyYAML has it: about ten times faster than the pure-Python one
#: (a compatibility test reads some twenty files). Only for documents that parse: an
#: error is reported by the pure-Python parser, whose messages and positions are the
#: ones documented (libyaml words some of them differently).
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def load_text(text: str) -> Document:
    """Parse one YAML document, keeping positions. Raises YamlError."""
    if _FAST_LOADER is not None:
        fast = Document(data=None, lines=text.splitlines())
        loader = _FAST_LOADER(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                fast.data = _Builder(loader, fast).build(node, ())
            return fast
        except (yaml.YAMLError, YamlError, RecursionError):
            pass  # parsed again below, for the documented message
        finally:
            loader.dispose()
    doc = Document(data=None, lines=text.splitlines())
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _Builder(loader, doc).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        if "\t" in problem or "'\\t'" in problem:
            problem += "; YAML does not allow tabs for indentation"
        at = _mark(mark) if mark else None
        raise YamlError(problem, at.line if at else None, at.col if at else None) from None
    except yaml.reader.ReaderError as exc:
        at = _position(text, exc.position)
        raise YamlError(
            f"character {exc.character!r} is not allowed in YAML", at.line, at.col
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc)) from None
    except RecursionError:
        raise YamlError("document is nested too deeply", code="too-large") from None
    finally:
        loader.dispose()
    return doc


def load_file(path: Path, max_bytes: int = MAX_BYTES) -> Document:
    return load_text(read_text(path, max_bytes))


def format_path(path: KeyPath) -> str:
    """`tasks.infer.parameters` / `authors[0].name`; the root is `(root)`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(root)"

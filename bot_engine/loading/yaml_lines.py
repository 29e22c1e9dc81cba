"""YAML loading that remembers the line of every mapping key and list item.

Error messages must say where a problem is ("data/rules.yml:14"), so the loader keeps a map
from the path of each value inside the document (a tuple of keys and indexes) to its line.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot_engine.errors import ValidationMessage

Path_ = tuple


@dataclass
class YamlDocument:
    file: str
    data: object
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path) -> int | None:
        """Line of the value at `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def message(self, path, key: str, text: str, level: str = "error") -> ValidationMessage:
        return ValidationMessage(self.file, self.line(*path), key, text, level)


def _construct(node, path: Path_, lines: dict, loader: yaml.SafeLoader):
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                key = str(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, (*path, key), lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(item, (*path, index), lines, loader) for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[ValidationMessage]]:
    """Parse YAML text; a syntax error becomes a message with its line, never an exception."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(file, None, {(): 1}), []
        lines: dict[Path_, int] = {}
        data = _construct(node, (), lines, loader)
        return YamlDocument(file, data, lines), []
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or str(error)
        return None, [ValidationMessage(file, line, "", f"invalid YAML: {problem}")]
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as error:
        return None, [ValidationMessage(file, None, "", f"invalid YAML: {error}")]
    finally:
        loader.dispose()


def load_yaml_file(path: Path, display: str) -> tuple[YamlDocument | None, list]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [ValidationMessage(display, None, "", f"cannot read file: {error}")]
    return parse_yaml(text, display)

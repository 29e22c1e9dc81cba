"""The `nlu:` section of data files: intent examples, synonyms, regexes, lookup tables."""

from bot_engine.loading.yaml_lines import YamlDocument
from bot_engine.nlu import NLUTrainingData, TrainingExample, parse_annotated_example


def _example_lines(block, path, document: YamlDocument, key: str, messages: list) -> list[str]:
    examples = block.get("examples")
    if isinstance(examples, str):
        items = []
        for line in examples.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                items.append(stripped[2:].strip())
            elif stripped == "-":
                continue
            elif stripped:
                messages.append(
                    document.message(
                        (*path, "examples"),
                        key,
                        f"example lines must start with '- ': {stripped!r}",
                    )
                )
        return items
    if isinstance(examples, list):  # Rasa also accepts a list of {text: ...} (with metadata)
        items = []
        for item in examples:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str):
                items.append(text.strip().removeprefix("- "))
        return items
    messages.append(document.message(path, key, "needs 'examples'"))
    return []


def read_nlu(document: YamlDocument, data: NLUTrainingData, messages: list) -> None:
    section = document.data.get("nlu")
    if section is None:
        return
    if not isinstance(section, list):
        messages.append(document.message(("nlu",), "nlu", "must be a list"))
        return
    for index, block in enumerate(section):
        path = ("nlu", index)
        if not isinstance(block, dict):
            messages.append(document.message(path, "nlu", "each item must be a mapping"))
            continue
        if "intent" in block:
            name = str(block["intent"])
            key = f"intent '{name}'"
            for raw in _example_lines(block, path, document, key, messages):
                try:
                    text, entities = parse_annotated_example(raw)
                except ValueError as error:
                    messages.append(document.message(path, key, str(error)))
                    continue
                if text.strip():
                    data.examples.append(TrainingExample(text, name, tuple(entities)))
        elif "synonym" in block:
            value = str(block["synonym"])
            for raw in _example_lines(block, path, document, f"synonym '{value}'", messages):
                data.synonyms[raw.lower()] = value
        elif "regex" in block:
            name = str(block["regex"])
            for raw in _example_lines(block, path, document, f"regex '{name}'", messages):
                data.regexes.append((name, raw))
        elif "lookup" in block:
            name = str(block["lookup"])
            values = _example_lines(block, path, document, f"lookup '{name}'", messages)
            data.lookups.setdefault(name, []).extend(values)
        else:
            messages.append(
                document.message(path, "nlu", "item needs intent, synonym, regex or lookup")
            )

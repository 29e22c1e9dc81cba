"""Rasa's condition language (`if:` of steps, flow guards, rejections), with pypred's semantics.

Our own small parser and evaluator. Faithful to pypred where Rasa projects depend on it:
- `and` and `or` have the SAME precedence and are right-associative
  (`a and b or c` is `a and (b or c)`); `not` binds tighter than both.
- a bare word is a path into the document (`slots.amount`), never a string: a word that is no
  path is *undefined*; write text in quotes.
- `null` is a value (a slot that exists but is empty), *undefined* is "no such name":
  `slots.missing is null` is false and `slots.missing is not null` is true.
- any error while evaluating (`None > 5`) makes the whole condition false.
"""

import re
from dataclasses import dataclass

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

_jinja = SandboxedEnvironment()
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>\#.*)
      | (?P<op>>=|<=|==|!=|=|>|<|\(|\)|\{|\})
      | (?P<quoted>"[^"]*"|'[^']*')
      | (?P<word>[A-Za-z0-9_\-.:;]+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
KEYWORDS = {"and", "or", "not", "is", "contains", "matches", "true", "false"}
CONSTANTS = {"true": True, "false": False, "null": None}


class PredicateError(ValueError):
    """The condition cannot be parsed (a load-time validation error)."""


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


class _Empty:
    def __repr__(self) -> str:
        return "empty"


UNDEFINED = _Undefined()
EMPTY = _Empty()


# ---- syntax tree ----
@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Name:
    path: str


@dataclass(frozen=True)
class SetLiteral:
    items: tuple


@dataclass(frozen=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Logical:
    op: str  # "and" | "or"
    left: object
    right: object


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class Truthy:
    operand: object


# ---- tokenizer and parser ----
def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise PredicateError(f"unexpected character {text[position:].strip()[0]!r}")
        position = match.end()
        kind = match.lastgroup
        if kind == "comment":
            break
        tokens.append((kind, match.group(kind)))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def keyword(self) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in KEYWORDS:
            return token[1].lower()
        return None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PredicateError("the condition ends too early")
        self.index += 1
        return token

    def expression(self):
        left = self.unary()
        keyword = self.keyword()
        if keyword in {"and", "or"}:
            self.take()
            return Logical(keyword, left, self.expression())  # right-associative, one level
        return left

    def unary(self):
        if self.keyword() == "not":
            self.take()
            return Not(self.unary())
        return self.term()

    def term(self):
        left = self.factor()
        token = self.peek()
        if token is None:
            return Truthy(left)
        if token[0] == "op" and token[1] in {"=", "==", "!=", ">", ">=", "<", "<="}:
            self.take()
            return Compare(token[1], left, self.factor())
        keyword = self.keyword()
        if keyword == "is":
            self.take()
            if self.keyword() == "not":
                self.take()
                return Compare("!=", left, self.factor())
            return Compare("=", left, self.factor())
        if keyword in {"contains", "matches"}:
            self.take()
            return Compare(keyword, left, self.factor())
        return Truthy(left)

    def factor(self):
        kind, text = self.take()
        if kind == "op" and text == "(":
            inner = self.expression()
            self._expect(")")
            return inner
        if kind == "op" and text == "{":
            items = []
            while self.peek() and self.peek() != ("op", "}"):
                items.append(self.factor())
            self._expect("}")
            return SetLiteral(tuple(items))
        if kind == "quoted":
            return Literal(text[1:-1])
        if kind == "word":
            lowered = text.lower()
            if lowered in CONSTANTS:
                return Literal(CONSTANTS[lowered])
            if lowered == "undefined":
                return Literal(UNDEFINED)
            if lowered == "empty":
                return Literal(EMPTY)
            if lowered in KEYWORDS:
                raise PredicateError(f"'{text}' cannot stand here")
            if _NUMBER.fullmatch(text):
                return Literal(float(text))
            return Name(text)
        raise PredicateError(f"unexpected '{text}'")

    def _expect(self, symbol: str) -> None:
        token = self.take()
        if token != ("op", symbol):
            raise PredicateError(f"expected '{symbol}', found '{token[1]}'")


def parse_predicate(text: str):
    """Parse a condition into a tree; raises PredicateError naming the problem."""
    tokens = _tokens(text)
    if not tokens:
        raise PredicateError("the condition is empty")
    parser = _Parser(tokens)
    tree = parser.expression()
    if parser.peek() is not None:
        raise PredicateError(f"unexpected '{parser.peek()[1]}' after a complete condition")
    return tree


def names_in(tree) -> list[str]:
    """Every bare word (path) the condition reads, in order."""
    if isinstance(tree, Name):
        return [tree.path]
    if isinstance(tree, Compare | Logical):
        return names_in(tree.left) + names_in(tree.right)
    if isinstance(tree, Not | Truthy):
        return names_in(tree.operand)
    if isinstance(tree, SetLiteral):
        return [n for item in tree.items for n in names_in(item)]
    return []


# ---- evaluation ----
def _resolve(path: str, document: dict):
    if path in document:
        return document[path]
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return UNDEFINED
    return value


def _value(node, document: dict):
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return _resolve(node.path, document)
    if isinstance(node, SetLiteral):
        return [_value(item, document) for item in node.items]
    return _evaluate(node, document)


def _equal(left, right) -> bool:
    if left is EMPTY or right is EMPTY:
        other = right if left is EMPTY else left
        return other is EMPTY or other is UNDEFINED or (hasattr(other, "__len__") and not other)
    if left is UNDEFINED or right is UNDEFINED:
        return left is right
    return left == right


def _compare(op: str, left, right) -> bool:
    if op in {"=", "=="}:
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op == "contains":
        try:
            return right in left
        except TypeError:
            return False
    if op == "matches":
        return isinstance(left, str) and re.search(str(right), left) is not None
    if any(v is UNDEFINED or v is EMPTY for v in (left, right)):
        return False
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _truthy(value) -> bool:
    return value is not UNDEFINED and value is not EMPTY and bool(value)


def _evaluate(node, document: dict) -> bool:
    if isinstance(node, Logical):
        left = _evaluate(node.left, document)
        if node.op == "and":
            return left and _evaluate(node.right, document)
        return left or _evaluate(node.right, document)
    if isinstance(node, Not):
        return not _evaluate(node.operand, document)
    if isinstance(node, Compare):
        return _compare(node.op, _value(node.left, document), _value(node.right, document))
    if isinstance(node, Truthy):
        return _truthy(_value(node.operand, document))
    return _truthy(_value(node, document))


def render_jinja(text: str, variables: dict) -> str:
    """Render `{{ }}` / `{% %}` in a condition or action name (plain text passes unchanged)."""
    if "{{" not in text and "{%" not in text:
        return text
    return _jinja.from_string(text).render(**variables)


def evaluate(condition, document: dict, jinja_variables: dict | None = None) -> bool:
    """True if the condition holds; any error (syntax, types) makes it false, as in Rasa."""
    try:
        text = condition_text(condition)
        if jinja_variables is not None:
            text = render_jinja(text, jinja_variables)
        return bool(_evaluate(parse_predicate(text), document))
    except (PredicateError, TemplateError, TypeError, ValueError, re.error, RecursionError):
        return False


def condition_text(condition) -> str:
    """YAML booleans are conditions too (`if: False`): the literals `True` / `False`."""
    if isinstance(condition, bool):
        return "true" if condition else "false"
    if condition is None:
        return ""
    return str(condition)


def check_condition(condition) -> tuple[object | None, str | None]:
    """Parse a condition for validation: (tree, None) or (None, problem).

    Jinja is rendered with an empty context first, the way it will run, so
    `'{{context.reason}}' = 'x'` is checked as `'' = 'x'`.
    """
    text = condition_text(condition)
    try:
        text = render_jinja(text, {"context": {}, "slots": {}})
    except TemplateError as error:
        return None, f"invalid Jinja template: {error}"
    try:
        return parse_predicate(text), None
    except PredicateError as error:
        return None, str(error)
    except RecursionError:
        return None, "the condition is nested too deeply"

"""A small renderer of Helm charts: the part of Go's text/template and of
Helm's functions that deploy/helm/onair uses, with Helm's semantics where
they bite (values' numbers are float64, so big ones print as 1.07e+09
unless converted with int64; a field of a missing map is an error; a
missing key is empty). It is not Helm: `make test` runs it because no
`helm` binary can be installed here. Keep the chart's templates inside it:

  actions   {{ }} with {{- -}} trimming, {{/* comments */}}, if / else if /
            else, range (with `$v :=` or `$i, $v :=`), with / else, define,
            include, variables (`:=` and `=`), `$`, parentheses, pipes
  functions add and append b64enc contains default dict empty eq fail ge gt
            hasKey hasPrefix hasSuffix include indent index int int64 join
            kindIs kindOf le len list lower lt ne nindent not or print printf
            quote replace required sha256sum squote sub ternary toJson
            toString toYaml trim trimSuffix trunc until upper

Anything else is an error, so the test fails rather than guessing.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import os
import re
from decimal import Decimal
from typing import Any, Callable

import yaml


class RenderError(Exception):
    pass


# ---------------------------------------------------------------- values ----

def go_numbers(value: Any) -> Any:
    """Values files' numbers become float64, as Helm's YAML-through-JSON reading makes them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {str(k): go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_numbers(v) for v in value]
    return value


def merge_values(base: dict, override: dict) -> dict:
    """Helm's coalescing of a values file over the chart's values: maps merge, null deletes."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def go_float_v(f: float) -> str:
    """fmt's %v of a float64 (strconv 'g', shortest): an exponent below 1e-4 and
    from 1e6 on. What Helm's users meet: {{ 1073741824.0 }} prints 1.073741824e+09."""
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if f == 0:
        return "0"
    t = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    exp = len(digits) + t.exponent - 1
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if f == int(f):
        return str(int(f))
    return format(f, "f").rstrip("0") if "e" in repr(f) else repr(f)


def to_str(value: Any) -> str:
    """How {{ value }} prints (Helm turns <no value> into the empty string)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_v(value)
    if isinstance(value, str):
        return value
    raise RenderError(f"printing a {kind_of(value)} ({value!r}): convert it (toYaml, toJson) first")


def truth(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


def kind_of(value: Any) -> str:
    if value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def to_int(value: Any) -> int:
    """sprig's int/int64 (spf13/cast): floats truncate, strings parse, the rest is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            try:
                return int(float(value))
            except ValueError:
                return 0
    return 0


def json_ready(value: Any) -> Any:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


def to_json(value: Any) -> str:
    text = json.dumps(json_ready(value), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _GoYamlDumper(yaml.SafeDumper):
    """Quotes as go-yaml does: double quotes where a string needs quoting."""

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    text = yaml.dump(json_ready(value), Dumper=_GoYamlDumper, default_flow_style=False, sort_keys=True,
                     allow_unicode=True, width=1 << 30)
    if text.endswith("\n...\n"):
        text = text[:-5]
    return text.rstrip("\n")


def go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def go_printf(fmt: str, *args: Any) -> str:
    out, i, n = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1] if i + 1 < len(fmt) else ""
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            raise RenderError(f"printf {fmt!r}: missing argument for %{verb}")
        arg = args[n]
        n += 1
        if verb == "s" or verb == "v":
            out.append(to_str(arg))
        elif verb == "d":
            if isinstance(arg, bool) or not isinstance(arg, int):
                raise RenderError(f"printf {fmt!r}: %d of a {kind_of(arg)} ({arg!r}): convert it with int")
            out.append(str(arg))
        elif verb == "q":
            out.append(go_quote(to_str(arg)))
        else:
            raise RenderError(f"printf verb %{verb} is not in this renderer")
    if n != len(args):
        raise RenderError(f"printf {fmt!r}: {len(args) - n} extra argument(s)")
    return "".join(out)


def compare(a: Any, b: Any) -> int | None:
    """Go template's basic comparison: None if the kinds cannot be compared."""
    for x, y in ((a, b),):
        if isinstance(x, bool) or isinstance(y, bool):
            if isinstance(x, bool) and isinstance(y, bool):
                return (x > y) - (x < y)
            return None
        if isinstance(x, int) and isinstance(y, int):
            return (x > y) - (x < y)
        if isinstance(x, float) and isinstance(y, float):
            return (x > y) - (x < y)
        if isinstance(x, str) and isinstance(y, str):
            return (x > y) - (x < y)
    return None


def go_eq(a: Any, *others: Any) -> bool:
    if not others:
        raise RenderError("eq: missing argument for comparison")
    for b in others:
        if a is None or b is None:
            if a is None and b is None:
                return True
            continue
        c = compare(a, b)
        if c is None:
            raise RenderError(f"eq: incompatible types for comparison: {kind_of(a)} and {kind_of(b)}")
        if c == 0:
            return True
    return False


def ordered(name: str, test: Callable[[int], bool]) -> Callable[[Any, Any], bool]:
    def fn(a: Any, b: Any) -> bool:
        c = compare(a, b)
        if c is None or isinstance(a, bool):
            raise RenderError(f"{name}: incompatible types for comparison: {kind_of(a)} and {kind_of(b)}")
        return test(c)
    return fn


def go_len(v: Any) -> int:
    if isinstance(v, (str, list, dict)):
        return len(v.encode() if isinstance(v, str) else v)
    raise RenderError(f"len of {kind_of(v)}")


def go_index(v: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(v, dict):
            v = v.get(key)
        elif isinstance(v, list) and isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(v):
                raise RenderError(f"index out of range: {key}")
            v = v[key]
        else:
            raise RenderError(f"can't index item of type {kind_of(v)}")
    return v


def go_dict(*args: Any) -> dict:
    if len(args) % 2:
        raise RenderError("dict: odd number of arguments")
    return {to_str(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def go_indent(n: Any, s: Any) -> str:
    pad = " " * to_int(n)
    return pad + to_str(s).replace("\n", "\n" + pad)


def go_trunc(n: Any, s: Any) -> str:
    n, s = to_int(n), to_str(s)
    if n < 0:
        return s[max(len(s) + n, 0):]
    return s[:n]


def go_required(msg: Any, value: Any = None) -> Any:
    if value is None or (isinstance(value, str) and value == ""):
        raise RenderError(f"required: {msg}")
    return value


def go_fail(msg: Any) -> Any:
    raise RenderError(f"fail: {msg}")


def go_default(default: Any, *given: Any) -> Any:
    value = given[0] if given else None
    return value if truth(value) else default


def go_add(*nums: Any) -> int:
    return sum(to_int(n) for n in nums)


def go_sub(a: Any, b: Any) -> int:
    return to_int(a) - to_int(b)


def go_quote_args(*args: Any) -> str:
    return " ".join(go_quote(to_str(a)) for a in args if a is not None)


def go_squote(*args: Any) -> str:
    return " ".join("'" + to_str(a) + "'" for a in args if a is not None)


FUNCS: dict[str, Callable[..., Any]] = {
    "add": go_add,
    "append": lambda lst, v: list(lst or []) + [v],
    "b64enc": lambda s: base64.b64encode(to_str(s).encode()).decode(),
    "contains": lambda sub, s: to_str(sub) in to_str(s),
    "default": go_default,
    "dict": go_dict,
    "empty": lambda v: not truth(v),
    "eq": go_eq,
    "fail": go_fail,
    "ge": ordered("ge", lambda c: c >= 0),
    "gt": ordered("gt", lambda c: c > 0),
    "hasKey": lambda d, k: isinstance(d, dict) and k in d,
    "hasPrefix": lambda p, s: to_str(s).startswith(to_str(p)),
    "hasSuffix": lambda p, s: to_str(s).endswith(to_str(p)),
    "indent": go_indent,
    "index": go_index,
    "int": to_int,
    "int64": to_int,
    "join": lambda sep, lst: to_str(sep).join(to_str(x) for x in (lst or [])),
    "kindIs": lambda k, v: kind_of(v) == k,
    "kindOf": kind_of,
    "le": ordered("le", lambda c: c <= 0),
    "len": go_len,
    "list": lambda *a: list(a),
    "lower": lambda s: to_str(s).lower(),
    "lt": ordered("lt", lambda c: c < 0),
    "ne": lambda a, b: not go_eq(a, b),
    "nindent": lambda n, s: "\n" + go_indent(n, s),
    "not": lambda v: not truth(v),
    "print": lambda *a: "".join(to_str(x) for x in a),
    "printf": lambda fmt, *a: go_printf(to_str(fmt), *a),
    "quote": go_quote_args,
    "replace": lambda old, new, s: to_str(s).replace(to_str(old), to_str(new)),
    "required": go_required,
    "sha256sum": lambda s: hashlib.sha256(to_str(s).encode()).hexdigest(),
    "squote": go_squote,
    "sub": go_sub,
    "ternary": lambda t, f, c: t if truth(c) else f,
    "toJson": to_json,
    "toString": to_str,
    "toYaml": to_yaml,
    "trim": lambda s: to_str(s).strip(),
    "trimSuffix": lambda suf, s: to_str(s)[: -len(to_str(suf))] if suf and to_str(s).endswith(to_str(suf)) else to_str(s),
    "trunc": go_trunc,
    "until": lambda n: list(range(to_int(n))),
    "upper": lambda s: to_str(s).upper(),
}


# ----------------------------------------------------------------- parse ----

ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.S)
TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>:=|=|\||\(|\)|,)
    )""",
    re.X,
)


class Node:
    pass


class Text(Node):
    def __init__(self, text: str):
        self.text = text


class Action(Node):
    def __init__(self, pipe: "Pipe", where: str):
        self.pipe, self.where = pipe, where


class Block(Node):
    def __init__(self, kind: str, where: str):
        self.kind, self.where = kind, where
        self.branches: list[tuple["Pipe | None", list[Node]]] = []
        self.else_body: list[Node] | None = None


class Pipe:
    def __init__(self, decl: list[str], assign: bool, cmds: list[list[Any]]):
        self.decl, self.assign, self.cmds = decl, assign, cmds


def tokenize(body: str, where: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    body = body.strip()
    while pos < len(body):
        m = TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise RenderError(f"{where}: cannot read {body[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(body) and body[pos].isspace():
            pos += 1
    return out


def parse_pipe(tokens: list[tuple[str, str]], where: str) -> Pipe:
    decl: list[str] = []
    assign = False
    for i, (kind, value) in enumerate(tokens):
        if kind == "op" and value in (":=", "="):
            names = [v for k, v in tokens[:i] if k == "var"]
            if not names or any(k not in ("var", "op") or (k == "op" and v != ",") for k, v in tokens[:i]):
                raise RenderError(f"{where}: bad declaration")
            decl, assign, tokens = names, value == "=", tokens[i + 1:]
            break
    pos = 0

    def operand() -> Any:
        nonlocal pos
        kind, value = tokens[pos]
        pos += 1
        if kind == "op" and value == "(":
            inner = pipeline(")")
            return ("pipe", inner)
        if kind == "str":
            return ("lit", json.loads(value) if "\\x" not in value else value[1:-1])
        if kind == "raw":
            return ("lit", value[1:-1])
        if kind == "num":
            return ("lit", float(value) if re.search(r"[.eE]", value) else int(value))
        if kind == "ident":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "nil":
                return ("lit", None)
            return ("func", value)
        if kind == "var":
            name, _, rest = value.partition(".")
            return ("var", name, rest.split(".") if rest else [])
        if kind == "field":
            return ("field", [] if value == "." else value[1:].split("."))
        raise RenderError(f"{where}: unexpected {value!r}")

    def pipeline(end: str | None) -> list[list[Any]]:
        nonlocal pos
        cmds: list[list[Any]] = [[]]
        while pos < len(tokens):
            kind, value = tokens[pos]
            if kind == "op" and value == end:
                pos += 1
                return cmds
            if kind == "op" and value == "|":
                pos += 1
                cmds.append([])
                continue
            if kind == "op" and value in (")", ",", ":=", "="):
                raise RenderError(f"{where}: unexpected {value!r}")
            cmds[-1].append(operand())
        if end:
            raise RenderError(f"{where}: missing {end!r}")
        return cmds

    cmds = pipeline(None)
    if any(not c for c in cmds):
        raise RenderError(f"{where}: empty command in pipeline")
    return Pipe(decl, assign, cmds)


def parse(source: str, name: str) -> tuple[list[Node], dict[str, list[Node]]]:
    """The template's nodes, and the templates it defines."""
    pieces: list[Any] = []
    pos = 0
    for m in ACTION.finditer(source):
        pieces.append(source[pos:m.start()])
        line = source.count("\n", 0, m.start()) + 1
        pieces.append((m.group(2), bool(m.group(1)), bool(m.group(3)), f"{name}:{line}"))
        pos = m.end()
    pieces.append(source[pos:])
    # Trimming: {{- eats the whitespace before, -}} the whitespace after.
    for i, piece in enumerate(pieces):
        if isinstance(piece, tuple):
            _, left, right, _ = piece
            if left:
                pieces[i - 1] = pieces[i - 1].rstrip(" \t\r\n")
            if right:
                pieces[i + 1] = pieces[i + 1].lstrip(" \t\r\n")
    defines: dict[str, list[Node]] = {}
    root: list[Node] = []
    stack: list[tuple[Block | None, list[Node]]] = [(None, root)]
    for piece in pieces:
        body = stack[-1][1]
        if isinstance(piece, str):
            if piece:
                body.append(Text(piece))
            continue
        text, _, _, where = piece
        stripped = text.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise RenderError(f"{where}: unclosed comment")
            continue
        tokens = tokenize(stripped, where)
        head = tokens[0][1] if tokens and tokens[0][0] == "ident" else None
        if head in ("if", "range", "with"):
            block = Block(head, where)
            block.branches.append((parse_pipe(tokens[1:], where), []))
            body.append(block)
            stack.append((block, block.branches[-1][1]))
        elif head == "define":
            if len(tokens) != 2 or tokens[1][0] != "str":
                raise RenderError(f"{where}: define needs a name")
            block = Block("define", where)
            block.branches.append((None, []))
            block.name = json.loads(tokens[1][1])  # type: ignore[attr-defined]
            stack.append((block, block.branches[-1][1]))
        elif head == "else":
            block = stack[-1][0]
            if block is None or block.kind == "define" or block.else_body is not None:
                raise RenderError(f"{where}: else outside if/range/with")
            stack.pop()
            if len(tokens) > 1 and tokens[1] == ("ident", "if"):
                if block.kind != "if":
                    raise RenderError(f"{where}: else if in {block.kind}")
                block.branches.append((parse_pipe(tokens[2:], where), []))
                stack.append((block, block.branches[-1][1]))
            else:
                block.else_body = []
                stack.append((block, block.else_body))
        elif head == "end":
            block = stack.pop()[0]
            if block is None:
                raise RenderError(f"{where}: end without a block")
            if block.kind == "define":
                defines[block.name] = block.branches[0][1]  # type: ignore[attr-defined]
        elif head in ("template", "block", "break", "continue"):
            raise RenderError(f"{where}: {head} is not in this renderer (use include)")
        else:
            body.append(Action(parse_pipe(tokens, where), where))
    if len(stack) != 1:
        raise RenderError(f"{name}: {stack[-1][0].kind} opened at {stack[-1][0].where} has no end")
    return root, defines


# ------------------------------------------------------------------ eval ----

class Renderer:
    def __init__(self, defines: dict[str, list[Node]]):
        self.defines = defines
        self.depth = 0

    def run(self, nodes: list[Node], dot: Any) -> str:
        out: list[str] = []
        self.exec(nodes, dot, [{"$": dot}], out)
        return "".join(out)

    def include(self, name: Any, data: Any) -> str:
        if name not in self.defines:
            raise RenderError(f"include: no template {name!r}")
        self.depth += 1
        if self.depth > 100:
            raise RenderError("include: too deep")
        try:
            return self.run(self.defines[name], data)
        finally:
            self.depth -= 1

    def exec(self, nodes: list[Node], dot: Any, scopes: list[dict], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                value = self.pipe(node.pipe, dot, scopes, node.where)
                if not node.pipe.decl:
                    out.append(to_str(value))
            elif isinstance(node, Block):
                self.block(node, dot, scopes, out)

    def block(self, node: Block, dot: Any, scopes: list[dict], out: list[str]) -> None:
        if node.kind == "if":
            for pipe, body in node.branches:
                inner = scopes + [{}]
                if truth(self.pipe(pipe, dot, inner, node.where)):
                    self.exec(body, dot, inner, out)
                    return
            if node.else_body is not None:
                self.exec(node.else_body, dot, scopes + [{}], out)
        elif node.kind == "with":
            pipe, body = node.branches[0]
            inner = scopes + [{}]
            value = self.pipe(pipe, dot, inner, node.where)
            if truth(value):
                self.exec(body, value, inner, out)
            elif node.else_body is not None:
                self.exec(node.else_body, dot, scopes + [{}], out)
        elif node.kind == "range":
            pipe, body = node.branches[0]
            names = pipe.decl
            value = self.pipe(Pipe([], False, pipe.cmds), dot, scopes, node.where)
            if isinstance(value, dict):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list):
                items = list(enumerate(value))
            elif value is None:
                items = []
            else:
                raise RenderError(f"{node.where}: range can't iterate over {kind_of(value)}")
            if not items and node.else_body is not None:
                self.exec(node.else_body, dot, scopes + [{}], out)
            for key, item in items:
                scope: dict[str, Any] = {}
                if len(names) == 1:
                    scope[names[0]] = item
                elif len(names) == 2:
                    scope[names[0]], scope[names[1]] = key, item
                elif len(names) > 2:
                    raise RenderError(f"{node.where}: too many range variables")
                self.exec(body, item, scopes + [scope], out)

    def pipe(self, pipe: Pipe, dot: Any, scopes: list[dict], where: str) -> Any:
        value: Any = None
        for i, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, dot, scopes, where, value if i else _NONE)
        if pipe.decl:
            if pipe.assign:
                for scope in reversed(scopes):
                    if pipe.decl[0] in scope:
                        scope[pipe.decl[0]] = value
                        break
                else:
                    raise RenderError(f"{where}: undefined variable {pipe.decl[0]}")
            else:
                scopes[-1][pipe.decl[0]] = value
        return value

    def command(self, cmd: list[Any], dot: Any, scopes: list[dict], where: str, piped: Any) -> Any:
        first = cmd[0]
        if first[0] == "func":
            name = first[1]
            args = cmd[1:]
            if name in ("and", "or"):
                thunks = [lambda a=a: self.operand(a, dot, scopes, where) for a in args]
                if piped is not _NONE:
                    thunks.append(lambda: piped)
                if not thunks:
                    raise RenderError(f"{where}: {name} needs arguments")
                value = None
                for thunk in thunks:
                    value = thunk()
                    if truth(value) != (name == "and"):
                        return value
                return value
            values = [self.operand(a, dot, scopes, where) for a in args]
            if piped is not _NONE:
                values.append(piped)
            if name == "include":
                if len(values) != 2:
                    raise RenderError(f"{where}: include takes a name and data")
                return self.include(values[0], values[1])
            if name not in FUNCS:
                raise RenderError(f"{where}: function {name!r} is not in this renderer")
            try:
                return FUNCS[name](*values)
            except RenderError as e:
                raise RenderError(f"{where}: {e}") from None
            except TypeError as e:
                raise RenderError(f"{where}: {name}: {e}") from None
        if len(cmd) > 1 or piped is not _NONE:
            raise RenderError(f"{where}: {first!r} is not a function and takes no arguments")
        return self.operand(first, dot, scopes, where)

    def operand(self, op: Any, dot: Any, scopes: list[dict], where: str) -> Any:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "pipe":
            return self.pipe(Pipe([], False, op[1]), dot, scopes, where)
        if kind == "field":
            return self.fields(dot, op[1], ".", where)
        if kind == "var":
            for scope in reversed(scopes):
                if op[1] in scope:
                    return self.fields(scope[op[1]], op[2], op[1], where)
            raise RenderError(f"{where}: undefined variable {op[1]}")
        if kind == "func":
            return self.command([op], dot, scopes, where, _NONE)
        raise RenderError(f"{where}: bad operand {op!r}")

    @staticmethod
    def fields(value: Any, names: list[str], start: str, where: str) -> Any:
        path = start
        for name in names:
            if isinstance(value, dict):
                value = value.get(name)
            elif value is None:
                raise RenderError(f"{where}: nil pointer evaluating {path}.{name}")
            else:
                raise RenderError(f"{where}: can't evaluate field {name} in type {kind_of(value)}")
            path += "." + name
        return value


_NONE = object()


# ----------------------------------------------------------------- chart ----

def render_chart(chart_dir: str, value_files: list[str] = (), release: str = "onair",
                 namespace: str = "default") -> dict[str, str]:
    """`helm template RELEASE CHART -f FILE...`: each template's output, by its path."""
    with open(os.path.join(chart_dir, "Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml")) as f:
        values = yaml.safe_load(f) or {}
    for path in value_files:
        with open(path) as f:
            values = merge_values(values, yaml.safe_load(f) or {})
    data = {
        "Values": go_numbers(values),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False, "Revision": 1},
        "Chart": {"Name": chart["name"], "Version": chart["version"],
                  "AppVersion": chart.get("appVersion", "")},
    }
    tdir = os.path.join(chart_dir, "templates")
    parsed, defines = {}, {}
    for fname in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, fname)) as f:
            nodes, defs = parse(f.read(), f"templates/{fname}")
        defines.update(defs)
        if not fname.startswith("_") and fname.endswith((".yaml", ".yml")):
            parsed[f"templates/{fname}"] = nodes
    renderer = Renderer(defines)
    return {path: renderer.run(nodes, data) for path, nodes in parsed.items()}


def manifests(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    """The documents of the rendered templates, as Helm splits them (empty ones dropped)."""
    out = []
    for path, text in rendered.items():
        for doc in re.split(r"(?m)^---[ \t]*$", text):
            try:
                obj = yaml.safe_load(doc)
            except yaml.YAMLError as e:
                raise RenderError(f"{path}: the rendered YAML does not parse: {e}\n{doc}") from None
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise RenderError(f"{path}: a document is not a mapping:\n{doc}")
            out.append((path, obj))
    return out

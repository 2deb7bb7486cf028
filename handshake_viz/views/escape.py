"""The one place where text becomes safe for an output format. Pure.

Text from the wire (payloads, DNS names), from the kernel or a crafted record beside a capture
(reasons), from file names or from the user is data: whatever bytes it holds, each format shows
it as written and it never breaks or steers the output. First every character that is not
visible (controls, DEL, C1, line and paragraph separators, bidi and other format characters) is
spelled out as `\\xNN` or `\\u{NNNN}`; then the format's own syntax is escaped: DOT strings (where
graphviz would also read `&...;` as an entity and put it into the SVG), HTML-like labels, Mermaid
(its statement characters, entity codes, `%%` directives and backticks) and Markdown (its inline
markup and table borders, and link targets).
"""

import json
import re
import unicodedata

_SPELLED = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def visible(text: str) -> str:
    """text with every character that does not show spelled out, so nothing in it can act."""
    if text.isprintable():   # the common case, fast: nothing to spell out
        return text
    out = []
    for char in text:
        code = ord(char)
        if code in _SPELLED:
            out.append(_SPELLED[code])
        elif _hidden(char):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{{{code:04x}}}")
        else:
            out.append(char)
    return "".join(out)


def dot(text: str) -> str:
    """A DOT double-quoted string's contents that graphviz shows as written."""
    return visible(text).replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def html(text: str) -> str:
    """Text inside a graphviz HTML-like label (`<...>`) shown as written."""
    return (visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def json_text(data) -> str:
    """data as JSON text of printable ASCII, every string in it with its invisible characters
    spelled out (a bidi override would reorder what a reader sees): the explorer page's data."""
    return json.dumps(_visible_strings(data), separators=(",", ":"))


def _visible_strings(data):
    if isinstance(data, str):   # a line break stays one: the page breaks the line there
        return "\n".join(visible(line) for line in data.split("\n"))
    if isinstance(data, dict):
        return {visible(str(key)): _visible_strings(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_visible_strings(value) for value in data]
    return data


# Mermaid reads `#name;` and `#NNN;` as entities, `;` and a line end as the end of a statement,
# `<br/>` (and other tags) as markup, and `%%` as a comment or a directive (`%%{init: ...}%%`); and
# three backticks would end the Markdown fence the block stands in.
_MERMAID = str.maketrans({"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "%": "#37;", "`": "#96;"})


def mermaid(text: str) -> str:
    """Text of a Mermaid message, note or participant shown as written; a line break is `<br/>`."""
    return "<br/>".join(visible(line).translate(_MERMAID) for line in text.split("\n"))


# What can start or change inline markup (emphasis, code, links, HTML, entities, a table's cell
# border, strikethrough, math in some viewers), wherever it stands in a line; block markers
# (`#`, `-`, `1.`) act only at the start of a line, where data never stands.
_MARKDOWN = frozenset("\\`*_[]<>&|~$")


def markdown(text: str) -> str:
    """Data in a Markdown line or table cell shown as written: its markup characters escaped."""
    return "".join("\\" + char if char in _MARKDOWN else char for char in visible(text))


def markdown_code(text: str) -> str:
    """A code span showing text as written: fenced by more backticks than any run inside, and
    with a table's cell border escaped, which GitHub's tables split on even in code."""
    shown = visible(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""   # CommonMark strips one each side
    return f"{fence}{pad}{shown}{pad}{fence}"


_PLAIN_TARGET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~/")


def markdown_link(target: str) -> str:
    """A link or image target (a file name beside the page) that stays one target, whatever it
    holds: as it is when plain, else percent-encoded between angle brackets."""
    if all(c in _PLAIN_TARGET for c in target):
        return target
    return "<" + "".join(c if c in _PLAIN_TARGET or (ord(c) > 0x7F and not _hidden(c)) else
                         "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in target) + ">"

"""One packet's headers as DOT: an HTML table 32 bits wide, as RFC figures draw them. Pure."""

from handshake_viz.views.escape import dot as quote
from handshake_viz.views.escape import html
from handshake_viz.views.header import Field, Header


def to_dot(layers: list[Header], title: str) -> str:
    """An HTML table 32 bits wide: bit numbers on top, one row per 32-bit word."""
    rows = ["<TR>" + "".join(f'<TD WIDTH="26"><FONT POINT-SIZE="8">{i}</FONT></TD>' for i in range(32)) + "</TR>"]
    for layer in layers:
        rows.append(f'<TR><TD COLSPAN="32" BGCOLOR="#dde6f3"><B>{html(layer.name)}</B></TD></TR>')
        row, used = [], 0
        for field in layer.fields:
            remaining, first = field.bits, True
            while remaining:
                take = min(remaining, 32 - used)
                row.append(_cell(field, take, first))
                first, used, remaining = False, used + take, remaining - take
                if used == 32:
                    rows.append("<TR>" + "".join(row) + "</TR>")
                    row, used = [], 0
        if row:
            rows.append("<TR>" + "".join(row) + "</TR>")
    table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>"
    return (f'digraph header {{\n  graph [labelloc=t, fontname="DejaVu Sans", label="{quote(title)}"];\n'
            f'  node [shape=plaintext, fontname="DejaVu Sans", fontsize=10];\n  layout [label=<{table}>];\n}}\n')


def _cell(field: Field, bits: int, first: bool) -> str:
    lines = [f"<B>{html(field.name)}</B>" + ("" if first else " (cont.)")]
    if first:
        lines.append(html(field.value))
    if field.raw is not None and bits >= 8:
        lines.append(f'<FONT FACE="DejaVu Sans Mono" COLOR="#1f5fbf">{" ".join(f"{b:02x}" for b in field.raw)}</FONT>'
                     if first else "")
    return f'<TD COLSPAN="{bits}">' + "<BR/>".join(line for line in lines if line) + "</TD>"

"""The who-talked-to-whom graph of a capture as DOT, for graphviz to lay out. Pure."""

from handshake_viz.views.escape import dot as quote


def overview_dot(graph, title: str) -> str:
    """graph: views.overview.talk_graph's MultiDiGraph."""
    ids = {host: f"h{i}" for i, host in enumerate(graph.nodes)}
    out = ["digraph overview {",
           f'  graph [rankdir=LR, labelloc=t, fontname="DejaVu Sans", label="{quote(title)}"];',
           '  node [shape=box, style="rounded,filled", fillcolor="#eef2f8", fontname="DejaVu Sans", fontsize=11];',
           '  edge [fontname="DejaVu Sans", fontsize=9, color="#555555"];']
    out += [f'  {ids[host]} [label="{quote(host)}"];' for host in graph.nodes]
    for client, server, data in graph.edges(data=True):
        label = (f"#{data['index']} {data['protocol'].upper()} :{data['port']}\\n"
                 f"{data['packets']} packets, {data['payload']:,} bytes")
        out.append(f'  {ids[client]} -> {ids[server]} [label="{label}"];')
    out.append("}")
    return "\n".join(out) + "\n"

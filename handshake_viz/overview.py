"""Who talked to whom in a capture: a networkx graph of hosts (nodes) and conversations (edges,
with protocol, port, packets and bytes), as DOT, and the index of conversations as Markdown.
Pure."""

import networkx as nx

from handshake_viz.dot import quote


def talk_graph(conversations) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for c in conversations:
        packets = c.segments if c.protocol == "tcp" else c.datagrams
        graph.add_edge(c.client[0], c.server[0], index=c.index, protocol=c.protocol, port=c.server[1],
                       packets=c.packet_count, payload=sum(p.record.payload_len for p in packets))
    return graph


def overview_dot(graph: nx.MultiDiGraph, title: str) -> str:
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


def summary_row(conversation) -> tuple[str, ...]:
    """(#, protocol, client, server, packets, opened, closed): a conversation's row in the table
    a replay prints and in the index page."""
    if conversation.protocol == "udp":
        opened = closed = "-"
    else:
        opened, closed = conversation.handshake, conversation.teardown
    return (str(conversation.index), conversation.protocol, conversation.client_text,
            conversation.server_text, str(conversation.packet_count), opened, closed)


def index_markdown(title: str, rows: list[tuple[str, ...]], links: dict[int, str], overview: str) -> str:
    """The table of conversations, each linked to its diagram, under the overview picture."""
    lines = [f"# {title}", "", f"![who talked to whom]({overview})", "",
             "| # | protocol | client | server | packets | opened | closed | diagram |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        index = int(row[0])
        link = f"[{links[index]}]({links[index]})" if index in links else ""
        lines.append("| " + " | ".join((*row, link)) + " |")
    return "\n".join(lines) + "\n"

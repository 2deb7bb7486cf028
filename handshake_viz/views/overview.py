"""Who talked to whom in a capture: a networkx graph of hosts (nodes) and conversations (edges,
with protocol, port, packets and bytes), and the index of conversations as Markdown. Pure."""

from handshake_viz.views.escape import markdown, markdown_link
from handshake_viz.wire.records import DATAGRAMS


def talk_graph(conversations):
    """A networkx MultiDiGraph (imported here, where it is used: importing it cost every run 0.12 s)."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for c in conversations:
        packets = c.segments if c.protocol == "tcp" else c.datagrams
        graph.add_edge(c.client[0], c.server[0], index=c.index, protocol=c.protocol, port=c.server[1],
                       packets=c.packet_count, payload=sum(p.record.payload_len for p in packets))
    return graph


def summary_row(conversation) -> tuple[str, ...]:
    """(#, protocol, client, server, packets, opened, closed): a conversation's row in the table
    a replay prints and in the index page."""
    if conversation.protocol in DATAGRAMS:
        opened = closed = "-"
    else:
        opened, closed = conversation.handshake, conversation.teardown
    return (str(conversation.index), conversation.protocol, conversation.client_text,
            conversation.server_text, str(conversation.packet_count), opened, closed)


def index_markdown(title: str, rows: list[tuple[str, ...]], links: dict[int, str], overview: str) -> str:
    """The table of conversations, each linked to its diagram, under the overview picture."""
    lines = [f"# {markdown(title)}", "", f"![who talked to whom]({markdown_link(overview)})", "",
             "| # | protocol | client | server | packets | opened | closed | diagram |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        index = int(row[0])
        link = f"[{markdown(links[index])}]({markdown_link(links[index])})" if index in links else ""
        lines.append("| " + " | ".join((*map(markdown, row), link)) + " |")
    return "\n".join(lines) + "\n"

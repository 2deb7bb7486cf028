"""The models as DOT and Mermaid text, and the one place that runs graphviz."""

"""Everything that needs root: live capture, the kernel's tracing, namespaces, running a program."""

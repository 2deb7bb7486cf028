"""What the kernel said during a run, and that record set beside a conversation. Pure."""

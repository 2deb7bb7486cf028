"""The wire: packets as they were captured or stored, read into typed records. Pure, but for
reading the file it is given (pcapfile)."""

"""The analysis: records in, events and finished conversations out, as tshark reads TCP. Pure."""

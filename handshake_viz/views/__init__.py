"""Pure models of what is drawn or written: the timeline, its words, the report, the overview, a header."""

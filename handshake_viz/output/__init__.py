"""Files: the format table, the one publish route, the JSON export, writing safely."""

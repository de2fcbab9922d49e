"""A signed HTTPS webhook as an audience destination (``upload``): the buyer's own system receives the members."""

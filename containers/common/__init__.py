"""Code shared by every metric collector."""

"""Vendor wire schemas (vendor names), shared by the frontends and the providers."""

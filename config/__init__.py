"""Typed settings and loaders for the admin-owned YAML files (grid directory, policies, templates)."""

"""Inventory: the hosts of a workspace, selecting them, and connecting to them."""

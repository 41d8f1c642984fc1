"""Inquire: offline question answering over research notes, with cited and grounded answers."""

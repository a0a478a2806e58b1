"""Durable state: the ports the rest of sesmon uses (ports) and their backends (sqlite, postgres, memory)."""

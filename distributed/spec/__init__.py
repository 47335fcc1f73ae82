"""A search's spec: its data model (model.py), resolved once from the file, its profiles, --set and
the flags (load.py, sections.py), checked (check.py) and bound to its data and models (bind.py)."""

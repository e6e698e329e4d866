"""Built-in treatment protocols (YAML), shipped as package data (see catalogue.py)."""

"""Training and evaluation of Atelier's own small models."""

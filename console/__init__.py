"""Temper management plane: in-cluster API (see console/README.md)."""

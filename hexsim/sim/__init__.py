"""The SimPy cluster model."""

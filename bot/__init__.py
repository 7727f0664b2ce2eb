"""imaginebot's Discord side. No module of this package imports torch."""

"""Network and property file formats."""

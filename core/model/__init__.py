"""The models nnv reasons about: networks, properties and labelled data."""

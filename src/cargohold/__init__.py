"""cargohold: self-hosted versioned datasets for machine learning."""

__version__ = "0.1.0"

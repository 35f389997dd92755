"""The service protocol over HTTP: what the CLI uses when CARGOHOLD_SERVER is set."""

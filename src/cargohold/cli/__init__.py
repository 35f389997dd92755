"""The `cargohold` command line: translates arguments, calls one service, renders. No decisions."""

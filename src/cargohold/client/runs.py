"""Runs the server executes (api/runs.py): the spec's text goes up, the run record comes back."""

from __future__ import annotations

from cargohold.client import decode
from cargohold.client.http import HttpClient
from cargohold.domain.workflows import Run


def submit(
    api: HttpClient,
    spec_text: str,
    source: str,
    inputs_text: str | None = None,
    inputs_source: str = "inputs.yaml",
    workflow: str | None = None,
) -> Run:
    """Have the server check, record and run a spec; answers the run (PENDING)."""
    body = {
        "spec": spec_text,
        "source": source,
        "inputs": inputs_text,
        "inputsSource": inputs_source,
        "workflow": workflow,
    }
    return decode.run(api.call("POST", "/api/v1/workflows/execute", json=body))

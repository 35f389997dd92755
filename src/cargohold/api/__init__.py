"""The HTTP API: a FastAPI app over the service layer (routes translate, never decide)."""

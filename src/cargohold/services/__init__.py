"""Use cases: the one API every entry point calls, built by `build_services(settings)`."""

from cargohold.services.root import Services, build_services

__all__ = ["Services", "build_services"]

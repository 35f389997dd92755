"""Pure domain: ids, references, paths, manifests and the objects of the catalog. No I/O."""

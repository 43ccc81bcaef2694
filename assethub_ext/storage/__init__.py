"""Storage engines under the core: the metadata store and the object store."""

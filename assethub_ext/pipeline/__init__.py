"""Notebook pipelines: stages declared in ``assethub.yaml``, run by papermill, skipped when
nothing that decides their result has changed (see ``spec``, ``keys`` and ``runner``)."""

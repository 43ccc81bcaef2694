"""The core: one ``Hub`` facade over the metadata and object stores.

Knows nothing of Jupyter, tornado, papermill or Optuna.
"""

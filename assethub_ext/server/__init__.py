"""JupyterLab server side of Asset Hub: JSON handlers under ``/assethub/api/``."""

"""Numbered data and index migrations (``mNNNN_name.py``), applied by ``cli.py migrate``."""

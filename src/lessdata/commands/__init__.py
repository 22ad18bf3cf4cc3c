"""Command groups mounted on the ``lessdata`` command line (``lessdata scale ...``)."""

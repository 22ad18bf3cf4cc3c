"""``python -m lessdata.cli``: the same as the ``lessdata`` command."""

from lessdata.cli import main

main()

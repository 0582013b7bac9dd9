"""The ``riskrelay`` command line."""

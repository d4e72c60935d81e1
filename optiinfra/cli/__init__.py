"""The `optiinfra` command line."""

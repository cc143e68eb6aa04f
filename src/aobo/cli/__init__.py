"""The ``aobo`` command line: thin typer commands over the server, store and demo modules."""

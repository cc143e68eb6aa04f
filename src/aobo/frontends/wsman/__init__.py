"""WS-Management (WinRS) front end for remote PowerShell, per MS-WSMV.

``envelope`` parses requests and ``responses`` / ``faults`` build replies without any I/O;
``shells`` keeps the shell table and session limits; ``service`` runs the actions; ``asgi`` is the
only module that touches HTTP.
"""

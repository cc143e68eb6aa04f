"""Exchange cmdlets, one module per noun family (``mailbox.py``: Get-Mailbox, Set-Mailbox)."""

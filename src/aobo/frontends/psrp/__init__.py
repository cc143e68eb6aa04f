"""PSRP front end: PowerShell Remoting Protocol messages carried over WS-Man, and their CLIXML payloads."""

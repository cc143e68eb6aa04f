"""The partner toolkit: a client of the remote PowerShell service that fans out across customer tenants."""

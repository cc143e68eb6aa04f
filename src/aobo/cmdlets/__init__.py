"""The cmdlet engine: registry, parameter binding, pipelines and the Exchange cmdlets.

It knows nothing about protocols. Front ends hand it a :class:`~aobo.cmdlets.context.CmdletContext`
and a list of :class:`~aobo.cmdlets.pipeline.CommandInvocation`, and read back the
protocol-neutral records of :mod:`aobo.cmdlets.results`.
"""

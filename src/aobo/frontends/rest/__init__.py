"""Exchange Online's REST admin API: ``/adminapi/{beta|v1.0}/{tenant}/InvokeCommand``, ``$batch`` and
``EXOModuleFile``, authenticated by Bearer tokens.

``requests`` (routes, bodies, headers), ``values`` (engine values as JSON), ``errors`` (the OData
error shape), ``pages`` and ``cursors`` (paging over a held pipeline) are sans-IO; ``service`` is the
protocol logic and ``asgi`` the HTTP side.
"""

from aobo.frontends.rest.asgi import RestEndpoint
from aobo.frontends.rest.requests import is_adminapi_path
from aobo.frontends.rest.service import RestService

__all__ = ["RestEndpoint", "RestService", "is_adminapi_path"]

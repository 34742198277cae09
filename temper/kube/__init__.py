"""The only package that talks to the Kubernetes API server.

``client`` is a small asyncio client over aiohttp (get / patch / streaming watch) configured
from the in-cluster service account or a kubeconfig; ``reflector`` is the list+watch loop
(resourceVersion tracking, re-list on 410 Gone, bounded exponential backoff); ``objectwatch``
reduces each listed/watched object to a small record and tracks sync state, with
``nodecache`` (Nodes -> Temper's annotations) and ``namespaces`` (Namespaces -> labels) as its
two uses; ``podpatch`` holds the pod calls of ``temper overcommit``. Components use
these and never import the ``kubernetes`` package's API modules themselves. Tests fake the API
server over real HTTP (aiohttp test server), never by patching internals.

Exceptions: ``ApiError`` (any non-2xx answer, carrying ``status`` and the server's message);
``WatchExpired`` (a 410 Gone on list or watch: the caller re-lists).
"""

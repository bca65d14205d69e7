"""Cache-Control on every response: who may keep it, Varnish and browsers or no one.

X-Served-By and X-Release are not the app's: the deploy's release runtime adds them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

Handler = Callable[[HttpRequest], HttpResponse]


class CacheControlMiddleware:
    """Public for anonymous page views, private for everything else.

    Varnish and browsers may keep an anonymous GET for PUBLIC_CACHE_MAX_AGE seconds;
    Vary: Cookie keeps a logged-in user's page out of the shared cache. A view that
    sets Cache-Control itself (the write API's no-store, the admin's never_cache) wins.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        patch_vary_headers(response, ["Cookie"])
        user = getattr(request, "user", None)
        anonymous = user is None or not user.is_authenticated
        cacheable = (
            anonymous
            and request.method in ("GET", "HEAD")
            and response.status_code == 200
            and not response.cookies
        )
        if cacheable:
            patch_cache_control(response, public=True, max_age=settings.PUBLIC_CACHE_MAX_AGE)
        else:
            patch_cache_control(response, private=True, no_cache=True)
        return response

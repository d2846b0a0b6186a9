"""Everything under /auth/, where the Worker serves the same API: djoser's user endpoints, its
SimpleJWT views (jwt/create, jwt/refresh, jwt/verify) and its DRF token views."""

from django.urls import include, path

urlpatterns = [
    path("auth/", include("djoser.urls")),
    path("auth/", include("djoser.urls.jwt")),
    path("auth/", include("djoser.urls.authtoken")),
]

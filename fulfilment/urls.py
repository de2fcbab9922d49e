from django.urls import path

from fulfilment import library

app_name = "library"

urlpatterns = [
    path("", library.home, name="home"),
    path("sign-in/<str:token>/", library.sign_in, name="sign-in"),
    path("sign-out/", library.sign_out, name="sign-out"),
    path("get/<str:token>/", library.get, name="get"),
]

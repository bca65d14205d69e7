from django.urls import path

from league import views

urlpatterns = [
    path("", views.home, name="home"),
    path("standings/", views.standings, name="standings"),
    path("standings/<int:year>/", views.standings, name="standings-season"),
    path("teams/<slug:abbreviation>/<int:year>/", views.team_season, name="team-season"),
    path("games/<int:pk>/", views.game_detail, name="game"),
    path("api/results/", views.record_result, name="record-result"),
    path("api/teams/<slug:abbreviation>/logo/", views.upload_logo, name="upload-logo"),
]

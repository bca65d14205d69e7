from django.contrib import admin

from league.models import Conference, Game, Player, PlayerGameStat, Season, Team


@admin.register(Conference)
class ConferenceAdmin(admin.ModelAdmin):
    list_display = ["name"]


# Every field is in the form, the logo too: the admin's form uploads it (multipart) to
# the same storage as the write API.
@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["abbreviation", "city", "name", "conference"]
    list_filter = ["conference"]
    list_select_related = ["conference"]
    search_fields = ["city", "name", "abbreviation"]


@admin.register(Season)
class SeasonAdmin(admin.ModelAdmin):
    list_display = ["year"]


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["last_name", "first_name", "number", "position", "team"]
    list_filter = ["position", "team"]
    list_select_related = ["team"]
    search_fields = ["last_name", "first_name"]


class PlayerGameStatInline(admin.TabularInline):
    model = PlayerGameStat
    extra = 0
    # Raw ids: a select of every player and team would be thousands of options.
    raw_id_fields = ["player", "team"]


@admin.register(Game)
class GameAdmin(admin.ModelAdmin):
    list_display = ["played_at", "away_team", "away_score", "home_team", "home_score", "season"]
    list_filter = ["season"]
    list_select_related = ["home_team", "away_team", "season"]
    raw_id_fields = ["home_team", "away_team"]
    date_hierarchy = "played_at"
    inlines = [PlayerGameStatInline]


@admin.register(PlayerGameStat)
class PlayerGameStatAdmin(admin.ModelAdmin):
    list_display = ["game", "player", "points", "rebounds", "assists", "minutes"]
    list_select_related = ["game__home_team", "game__away_team", "player"]
    raw_id_fields = ["game", "player", "team"]

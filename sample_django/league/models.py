"""A basketball-like league: enough relations and rows for queries worth caching."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class Conference(models.Model):
    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    conference = models.ForeignKey(Conference, on_delete=models.PROTECT, related_name="teams")
    city = models.CharField(max_length=60)
    name = models.CharField(max_length=60)
    # Short and stable: it is the team's URL.
    abbreviation = models.SlugField(max_length=8, unique=True)
    # Stored through STORAGES["default"] (a local folder, or a shared media server).
    # A new logo never overwrites a file: the storage gives it a free name, and the old
    # file stays for the cached pages that still show it.
    logo = models.ImageField(upload_to="team-logos/", blank=True)

    class Meta:
        ordering = ["city", "name"]

    def __str__(self) -> str:
        return f"{self.city} {self.name}"


class Season(models.Model):
    year = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return str(self.year)


class Player(models.Model):
    POSITIONS = [("G", "Guard"), ("F", "Forward"), ("C", "Center")]

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="players")
    first_name = models.CharField(max_length=40)
    last_name = models.CharField(max_length=40)
    number = models.PositiveSmallIntegerField()
    position = models.CharField(max_length=1, choices=POSITIONS)

    class Meta:
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Game(models.Model):
    season = models.ForeignKey(Season, on_delete=models.CASCADE, related_name="games")
    played_at = models.DateTimeField()
    home_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="home_games")
    away_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="away_games")
    home_score = models.PositiveSmallIntegerField()
    away_score = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["-played_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(home_team=F("away_team")), name="game_teams_differ"
            ),
        ]
        # The pages filter by season and team and show the latest games first.
        indexes = [
            models.Index(fields=["season", "home_team"]),
            models.Index(fields=["season", "away_team"]),
            models.Index(fields=["-played_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.away_team} {self.away_score} @ {self.home_team} {self.home_score}"

    @property
    def winner(self) -> Team | None:
        if self.home_score == self.away_score:
            return None
        return self.home_team if self.home_score > self.away_score else self.away_team


class PlayerGameStat(models.Model):
    game = models.ForeignKey(Game, on_delete=models.CASCADE, related_name="stats")
    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="stats")
    # The player's team in that game, stored so a box score needs no join through Player.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    minutes = models.PositiveSmallIntegerField()
    points = models.PositiveSmallIntegerField()
    rebounds = models.PositiveSmallIntegerField()
    assists = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["game", "team", "-points"]
        constraints = [
            models.UniqueConstraint(fields=["game", "player"], name="one_stat_line_per_game"),
        ]

    def __str__(self) -> str:
        return f"{self.player}: {self.points} pts"

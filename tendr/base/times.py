"""A time as a person types it, one form for every command that takes one (logs,
report, audit-log, history): '-2h' before now, 'today', or ISO 8601."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tendr.base.names import duration_seconds

TIME_FORMS = (
    "'-2h' or '1 hour ago' (before now), 'today', 'yesterday', or ISO 8601 such as "
    "2024-05-01 (its midnight) or 2024-05-01T14:30+02:00; without an offset, local time"
)
_BEFORE = re.compile(r"-([0-9a-z]+)", re.ASCII)
# journalctl's and date's "1 hour ago", "30 min ago"
_AGO = re.compile(
    r"([0-9]+) ?(?:(w)(?:eeks?)?|(d)(?:ays?)?|(h)(?:ours?)?|(m)(?:in|ins|inutes?)?|"
    r"(s)(?:ec|ecs|econds?)?) ago",
    re.ASCII,
)


def given_time(text: str, now: datetime) -> datetime:
    """`text` as a time, relative to `now` (aware) where it is relative; ValueError when
    it is no time. A time without an offset is local, as the person reads a clock."""
    word = text.strip().lower()
    local_now = now.astimezone()
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return local_now
    if word == "today":
        return midnight
    if word == "yesterday":
        return (midnight - timedelta(days=1)).replace(tzinfo=None).astimezone()
    if before := _BEFORE.fullmatch(word):
        # journalctl's own spelling of minutes ('-5min') is taken too.
        return local_now - timedelta(seconds=duration_seconds(before[1].replace("min", "m")))
    if ago := _AGO.fullmatch(word):
        unit = next(letter for letter in ago.groups()[1:] if letter)
        return local_now - timedelta(seconds=duration_seconds(ago[1] + unit))
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.astimezone()

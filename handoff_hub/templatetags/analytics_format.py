"""Formatting analytics figures for people: durations, rates, empty values."""

from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """90 -> "1 min 30 s"; None -> "–"."""
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def percent(value) -> str:
    """0.6667 -> "66.7 %"; None -> "–"."""
    if value is None:
        return "–"
    return f"{float(value) * 100:.1f} %"


@register.filter
def or_dash(value) -> str:
    return "–" if value is None else value

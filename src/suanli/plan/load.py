"""The load a plan must carry: parsing "5000req/min", "20 req/s", "30 trillion tokens per day", "1e6tok/s".

Requests are counted per second, minute, hour or day. Tokens count everything a request moves, prompt plus
generated tokens (as token totals are usually quoted), unless the unit says `output` (`1e6 output tok/s`): a token
load becomes requests through the request shape (input + output tokens each). Multipliers: k/thousand, M/million,
B/G/billion, T/trillion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suanli.schema import SuanliError

FORMS = ("20req/s", "5000req/min", "30 trillion tokens per day", "30T tok/day", "1e6tok/s", "2e5 output tok/s")
_MULT = {"": 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "g": 1e9, "billion": 1e9,
         "t": 1e12, "trillion": 1e12}
_PER = {**dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
        **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
        **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0), **dict.fromkeys(("d", "day", "days"), 86400.0)}
_RE = re.compile(
    r"\s*(?P<num>\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)\s*"
    r"(?P<mult>thousand|million|billion|trillion|k|m|b|g|t)?\s*"
    r"(?P<out>output\s+|out\s+)?"
    r"(?P<what>requests|request|reqs|req|tokens|token|toks|tok)\s*"
    r"(?:/|per\s+|a\s+)\s*(?P<per>seconds|second|secs|sec|s|minutes|minute|mins|min|hours|hour|hrs|hr|h|days|day|d)\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Load:
    """A steady arrival rate of requests of one shape."""

    text: str
    requests_s: float
    input_len: int
    output_len: int

    @property
    def output_tok_s(self) -> float:
        return self.requests_s * self.output_len

    @property
    def total_tok_s(self) -> float:
        return self.requests_s * (self.input_len + self.output_len)

    def describe(self) -> str:
        return (f"{self.text} = {self.requests_s:,.3g} req/s of {self.input_len}+{self.output_len} tokens "
                f"({self.output_tok_s:,.0f} output tok/s, {self.total_tok_s * 86400 / 1e12:,.3g}T tokens/day)")


def parse_load(text: str, input_len: int, output_len: int) -> Load:
    """Parse a load string for requests of `input_len` + `output_len` tokens. Raises a one-line SuanliError."""
    m = _RE.fullmatch(text or "")
    if not m:
        raise SuanliError(f"load: {text!r} is not understood; use a rate of requests or tokens, e.g. "
                          f"{', '.join(FORMS)}")
    value = float(m.group("num")) * _MULT[(m.group("mult") or "").lower()]
    rate = value / _PER[m.group("per").lower()]
    if not rate > 0 or rate == float("inf"):
        raise SuanliError(f"load: {text!r} must be a positive, finite rate")
    what = m.group("what").lower()
    if what.startswith("req"):
        req_s = rate
    elif m.group("out"):
        req_s = rate / output_len
    else:
        req_s = rate / (input_len + output_len)
    return Load(text.strip(), req_s, input_len, output_len)


def check_headroom(headroom: float) -> float:
    if not 0 <= headroom < 10:
        raise SuanliError(f"headroom: {headroom:g} is not allowed; give a fraction of spare capacity in [0, 10) "
                          "(0.2 = 20% more chips than the load needs)")
    return headroom

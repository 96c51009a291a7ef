"""Word lists the guards read: stop words, written numbers, and groups of mutually exclusive words.

Hand-written and small on purpose. A contrast group lists words that name different things in the same
slot (weekdays, open/closed, adults/children): two questions that differ only by a choice inside a
group ask different things, however close their embeddings are. Forms map to one value per group.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_STOP_WORDS = """
    a about above after again all also am an and any are as at be been before being but by can could
    did do does doing done for from get gets getting got had has have having he her here hers him his how
    i if in into is it its it's just let me more most my myself of on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what what's when where which while who whom why will
    with would you your yours yourself i'm i've i'd you're we're there's that's can't don't isn't
    hi hello hey team please thanks thank okay ok quick question wondering tell know want like need
    anyone someone something way go going much many ok um uh er erm so cheers whats where's
    when's how's who's
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

_NEGATIONS = "not no never without except none nobody nothing neither nor cannot n't non"
NEGATIONS = frozenset(_NEGATIONS.split())

WRITTEN_NUMBERS: Mapping[str, str] = MappingProxyType(
    {
        "zero": "0",
        "one": "1",
        "two": "2",
        "three": "3",
        "four": "4",
        "five": "5",
        "six": "6",
        "seven": "7",
        "eight": "8",
        "nine": "9",
        "ten": "10",
        "eleven": "11",
        "twelve": "12",
        "fifteen": "15",
        "twenty": "20",
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "hundred": "100",
        "thousand": "1000",
        "million": "1000000",
        "first": "1",
        "second": "2",
        "third": "3",
        "fourth": "4",
        "fifth": "5",
        "tenth": "10",
        "single": "1",
        "double": "2",
        "twice": "2",
        "dozen": "12",
    }
)

# Each line a group of words that exclude one another; "value:form form ..." maps several forms to one
# value, and every form also matches with a trailing "s" (sundays, adults).
_GROUPS = """
monday | tuesday | wednesday | thursday | friday | saturday | sunday
weekday | weekend
january | february | march | april | june | july | august | september | october | november | december
today:today tonight | tomorrow:tomorrow tomorrow's | yesterday:yesterday yesterday's
morning | afternoon | evening | night
same-day | next-day
open:open opened | closed:closed close shut
on | off
allowed:allow allowed allows permitted | banned:ban banned bans prohibited forbidden
include:include includes included including | exclude:exclude excludes excluded excluding
eat:eat eating | avoid:avoid avoiding
enable:enable enabled | disable:disable disabled
accept:accept accepted | decline:decline declined | reject:reject rejected refuse refused
approve:approve approved | reject:reject rejected
increase:increase increased increases raise | decrease:decrease decreased decreases reduce lower
upgrade:upgrade upgrading | downgrade:downgrade downgrading
add:add adding | remove:remove removing delete
benefit:benefit benefits advantages pros | drawback:drawback drawbacks disadvantages cons
hot:hot warm | cold:cold
best:best | worst:worst
most:most | least:least
pass:pass passed | fail:fail failed
join:join | leave:leave
pause:pause paused | resume:resume resumed
grant:grant | revoke:revoke
spicy | mild
busy | quiet
compulsory:compulsory mandatory required | optional
enrol:enrol enroll | withdraw
buy:buy buying purchase | sell:sell selling
start:start starting | stop:stop stopping
before | after | within | during
under:under below less | over:over above more
minimum:minimum min | maximum:maximum max
full-time | part-time
adult | child:child children kid | baby:baby babies infant | senior:senior pensioner
student | employee:employee staff | contractor
check-in | check-out
online | in-store | paper
home | car | business | travel
economy | business
personal | business
import | export
upload | download
send | receive
credit | debit
deposit | withdrawal
income | expense
puppy:puppy puppies dog | kitten:kitten cat
iphone | android
uk | us | usa | eu
"""


def _parse_groups(spec: str) -> tuple[Mapping[str, str], ...]:
    groups: list[Mapping[str, str]] = []
    for line in spec.strip().splitlines():
        group: dict[str, str] = {}
        for item in line.split("|"):
            value, _, forms = item.strip().partition(":")
            for form in (forms or value).split():
                group[form] = value
                group.setdefault(form + "s", value)
        groups.append(MappingProxyType(group))
    return tuple(groups)


CONTRAST_GROUPS: tuple[Mapping[str, str], ...] = _parse_groups(_GROUPS)

# Prefixes that turn a word into its opposite or another scope: refundable / non-refundable.
OPPOSING_PREFIXES = ("un", "non-", "non", "dis", "self-", "in", "im", "ir", "il")

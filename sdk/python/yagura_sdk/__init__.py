"""yagura_sdk: the Python kit for Yagura detection rules.

Used inside componentize-py guests built against the WIT world
`yagura:detection/detection-rule@0.1.0` (wit/types.wit). Pure Python, no dependencies beyond the
`wit_world` package componentize-py generates at build time. Put this directory's parent on
componentize-py's path (`componentize-py ... componentize --stub-wasi -p sdk/python -p RULE_DIR app`);
`yagura rule build` does.

# Layout
- `event`: `Batch` and `Event`, typed access to the batch's events with their text spans decoded
  on demand (class, host, user, process image / command line / parent, endpoints, attributes).
- `matchers`: `basename`, `NameSet` (case-insensitive file names), `ContainsAny`, case-insensitive
  comparisons. Built once in `init`, allocation-light per event.
- `state`: `WindowedCounter`, `DistinctSet`, `mark_once` and the raw key/value store over the host's
  `state` import, in event time; state errors become `Err` with a readable message.
- `finding`: `FindingBuilder` (`finding("title")...build()`) with ATT&CK ids, entities with roles,
  evidence, context and a dedup key.
- `config`: typed parameters (`Params`) and typed reading of `init`'s config (`Config`).

64-bit integers: WIT `u64`/`s64` are plain Python `int`s, exact in both directions. A value
outside the WIT type's range is refused only when lowered, which traps the call; the kit clamps
times it computes (`clamp_s64`), and you should clamp your own arithmetic the same way.
"""

from .config import Config, Params
from .event import Batch, Event, format_guid, format_ip
from .finding import FindingBuilder, finding
from .matchers import (
    ContainsAny,
    NameSet,
    basename,
    contains_any,
    ends_with_ignore_case,
    eq_ignore_case,
    starts_with_ignore_case,
)
from .state import (
    S64_MAX,
    S64_MIN,
    DistinctSet,
    WindowedCounter,
    clamp_s64,
    mark_once,
)

__all__ = [
    "Batch",
    "Config",
    "ContainsAny",
    "DistinctSet",
    "Event",
    "FindingBuilder",
    "NameSet",
    "Params",
    "S64_MAX",
    "S64_MIN",
    "WindowedCounter",
    "basename",
    "clamp_s64",
    "contains_any",
    "ends_with_ignore_case",
    "eq_ignore_case",
    "finding",
    "format_guid",
    "format_ip",
    "mark_once",
    "starts_with_ignore_case",
]

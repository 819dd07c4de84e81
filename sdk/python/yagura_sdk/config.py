"""Rule parameters and the config `init` receives, typed.

Declare the parameters once; `info()` returns `PARAMS.wit()` and `init(config)` reads them
through a `Config`, which overlays the config on the defaults and raises `Err` naming the
parameter when a value is missing, of the wrong type or out of range:

    PARAMS = Params().integer("threshold", "failures that raise a finding", 5)

    def init(self, config):
        cfg = Config(config, PARAMS)
        threshold = cfg.integer("threshold", min=1)
"""

from typing import Dict, List, Optional, Sequence, Tuple

from componentize_py_types import Err
from wit_world.imports.types import (
    Param,
    Value,
    Value_Boolean,
    Value_Float,
    Value_Integer,
    Value_Text,
    Value_TextList,
)


_TYPE_NAMES = {
    Value_Boolean: "a boolean",
    Value_Integer: "an integer",
    Value_Float: "a float",
    Value_Text: "a text",
    Value_TextList: "a list of texts",
}


class Params:
    """The parameters a rule accepts, with their descriptions and defaults (chainable)."""

    __slots__ = ("_params",)

    def __init__(self) -> None:
        self._params: List[Param] = []

    def _add(self, name: str, description: str, default: Value) -> "Params":
        self._params.append(Param(name=name, description=description, default=default))
        return self

    def boolean(self, name: str, description: str, default: bool) -> "Params":
        return self._add(name, description, Value_Boolean(bool(default)))

    def integer(self, name: str, description: str, default: int) -> "Params":
        return self._add(name, description, Value_Integer(int(default)))

    def float(self, name: str, description: str, default: float) -> "Params":
        return self._add(name, description, Value_Float(float(default)))

    def text(self, name: str, description: str, default: str) -> "Params":
        return self._add(name, description, Value_Text(default))

    def text_list(self, name: str, description: str, default: Sequence[str] = ()) -> "Params":
        return self._add(name, description, Value_TextList(list(default)))

    def wit(self) -> List[Param]:
        """The WIT `param` list for `RuleInfo(params=...)`."""
        return list(self._params)


class Config:
    """`init`'s config overlaid on the parameters' defaults. Unknown names are refused."""

    __slots__ = ("_values",)

    def __init__(self, config: List[Tuple[str, Value]], params: Params) -> None:
        self._values: Dict[str, Value] = {p.name: p.default for p in params.wit()}
        for name, value in config:
            if name not in self._values:
                known = ", ".join(sorted(self._values)) or "none"
                raise Err(f"{name}: unknown parameter (parameters: {known})")
            self._values[name] = value

    def _get(self, name: str, kind) -> Value:
        value = self._values.get(name)
        if value is None:
            raise Err(f"{name}: no such parameter")
        if not isinstance(value, kind):
            raise Err(f"{name}: expected {_TYPE_NAMES[kind]}, got {_TYPE_NAMES.get(type(value), 'another type')}")
        return value

    def boolean(self, name: str) -> bool:
        return self._get(name, Value_Boolean).value

    def integer(self, name: str, min: Optional[int] = None, max: Optional[int] = None) -> int:
        """An integer parameter, checked against `min` and `max` when given."""
        n = self._get(name, Value_Integer).value
        if min is not None and n < min:
            raise Err(f"{name}: must be at least {min}, got {n}")
        if max is not None and n > max:
            raise Err(f"{name}: must be at most {max}, got {n}")
        return n

    def float(self, name: str) -> float:
        return self._get(name, Value_Float).value

    def text(self, name: str) -> str:
        return self._get(name, Value_Text).value

    def text_list(self, name: str) -> List[str]:
        return self._get(name, Value_TextList).value

"""Mini-notation: the TidalCycles/Strudel pattern language, parsed into the same Patterns.

    "c4 e4 g4"        three steps in a cycle          "~" or "-"      a rest
    "[c4 e4] g4"      a sub-sequence in one step      "<c4 e4 g4>"    one per cycle
    "c4*2" "c4/2"     faster, slower                  "c4!3" "c4 !"   repeat the step
    "c4@3" "c4 _ _"   a step three times as long      "c4?" "c4?0.3"  sometimes dropped
    "bd(3,8,2)"       Euclidean rhythm, rotated       "c4, e4"        stacked
    "{a b c, d e}"    polymeter ("%4" sets steps)     "a | b"         one of them per cycle
    "0 .. 3"          a run of numbers                "a . b c"       groups without brackets

There is no second semantics: the parser only calls the combinators of `core`.
Errors name the column: `pattern "c4 [e4" at column 4: '[' is never closed`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .core import F, Pattern, choose_by_cycle, polymeter, pure, silence, slowcat, stack, timecat
from .euclidean import euclid

MAX_REPEAT = 1024
MAX_FACTOR = 10 ** 6


class MiniNotationError(ValueError):
    """A mistake in a pattern; `column` counts from 1, as editors do."""

    def __init__(self, text: str, column: int, message: str):
        self.text, self.column, self.message = text, column, message
        super().__init__(f'pattern "{text}" at column {column}: {message}')


@dataclass
class _Step:
    pattern: Pattern
    weight: Fraction = Fraction(1)
    source: str = ""


_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)(e-?\d+)?$")
_WORD = re.compile(r"[A-Za-z0-9#.\-_:']")


def _value(word: str):
    if _NUMBER.match(word):
        return int(word) if re.fullmatch(r"-?\d+", word) else float(word)
    return word


class _Parser:
    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"mini-notation must be a string, got {type(text).__name__}: {text!r}")
        self.text, self.i = text, 0
        self.seed = 0

    # ---- scanning ----------------------------------------------------------------------------

    def error(self, message: str, column: int | None = None):
        raise MiniNotationError(self.text, (self.i if column is None else column) + 1, message)

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip_space(self):
        while self.peek().isspace():
            self.i += 1

    def word(self) -> str:
        start = self.i
        while self.i < len(self.text) and _WORD.match(self.text[self.i]):
            if self.text.startswith("..", self.i) or (self.text[self.i] == "." and self.i > start
                                                      and not self.text[start:self.i].replace("-", "").isdigit()):
                break
            if self.text[self.i] == "_" and self.i == start:
                break
            self.i += 1
        return self.text[start:self.i]

    def number(self, what: str) -> Fraction:
        self.skip_space()
        start = self.i
        w = self.word()
        if not w or not _NUMBER.match(w):
            self.error(f"{what} must be a number, got {w or self.peek() or 'the end'!r}", start)
        value = F(_value(w))
        if abs(value) > MAX_FACTOR:
            self.error(f"{what} {w} is too large (at most {MAX_FACTOR})", start)
        return value

    # ---- grammar -----------------------------------------------------------------------------

    def parse(self) -> Pattern:
        if not self.text.strip():
            return silence()
        pat = self.stack_or_choice(closing="")
        self.skip_space()
        if self.i < len(self.text):
            ch = self.peek()
            if ch in "]>}":
                self.error(f"'{ch}' closes a bracket that was never opened")
            self.error(f"unexpected {ch!r}")
        return pat

    def stack_or_choice(self, closing: str, braces: bool = False):
        """Sequences separated by ',' (stacked) or '|' (one per cycle); for braces, the layers themselves."""
        layers, sep = [self.sequence(closing)], None
        while True:
            self.skip_space()
            ch = self.peek()
            if ch in (",", "|"):
                if sep is not None and ch != sep:
                    self.error("',' and '|' cannot be mixed at the same level; use brackets")
                sep = ch
                self.i += 1
                layers.append(self.sequence(closing))
            else:
                break
        if braces:
            return layers
        pats = [self.timecat(steps) for steps in layers]
        if sep == "|":
            self.seed += 1
            return choose_by_cycle(pats, seed=self.seed)
        return pats[0] if len(pats) == 1 else stack(*pats)

    @staticmethod
    def timecat(steps: list[_Step]) -> Pattern:
        if not steps:
            return silence()
        if len(steps) == 1 and steps[0].weight == 1:
            return steps[0].pattern
        return timecat(*[(s.weight, s.pattern) for s in steps])

    def sequence(self, closing: str) -> list[_Step]:
        steps: list[_Step] = []
        groups: list[list[_Step]] = []
        while True:
            self.skip_space()
            ch = self.peek()
            if ch == "" or ch in ",|" or (closing and ch == closing):
                break
            if ch in "]>}" and ch != closing:
                self.error(f"'{ch}' closes a bracket that was never opened" if not closing
                           else f"expected '{closing}' but found '{ch}'")
            if ch == "." and not self.text.startswith("..", self.i):
                self.i += 1
                groups.append(steps)
                steps = []
                continue
            if self.text.startswith("..", self.i):
                start = self.i
                self.i += 2
                if not steps or not isinstance(steps[-1].source, str) or not _NUMBER.match(steps[-1].source or ""):
                    self.error("'..' needs a number before it", start)
                low = int(F(_value(steps[-1].source)))
                high = int(self.number("the end of a '..' range"))
                if abs(high - low) > MAX_REPEAT:
                    self.error(f"a range of {abs(high - low) + 1} steps is too long (at most {MAX_REPEAT})", start)
                run = range(low, high + 1) if high >= low else range(low, high - 1, -1)
                steps[-1:] = [_Step(pure(v), source=str(v)) for v in run]
                continue
            if ch == "_":
                if not steps:
                    self.error("'_' extends a step, but there is none before it")
                self.i += 1
                steps[-1].weight += 1
                continue
            if ch == "!":
                if not steps:
                    self.error("'!' repeats a step, but there is none before it")
                self.i += 1
                steps.append(_Step(steps[-1].pattern, steps[-1].weight, steps[-1].source))
                continue
            steps.extend(self.step())
        if groups:
            groups.append(steps)
            return [_Step(self.timecat(g)) for g in groups if g]
        return steps

    def step(self) -> list[_Step]:
        start = self.i
        ch = self.peek()
        if ch == "[":
            self.i += 1
            pat = self.stack_or_choice(closing="]")
            self.expect("]", start)
            source = ""
        elif ch == "<":
            self.i += 1
            layers = self.stack_or_choice(closing=">", braces=True)
            self.expect(">", start)
            alts = [slowcat(*[s.pattern for s in layer]) for layer in layers if layer]
            pat = alts[0] if len(alts) == 1 else stack(*alts) if alts else silence()
            source = ""
        elif ch == "{":
            self.i += 1
            layers = self.stack_or_choice(closing="}", braces=True)
            self.expect("}", start)
            steps_per_cycle = None
            if self.peek() == "%":
                self.i += 1
                steps_per_cycle = self.number("the step count after '%'")
                if steps_per_cycle <= 0 or steps_per_cycle.denominator != 1:
                    self.error("the step count after '%' must be a whole number above 0")
            layers = [layer for layer in layers if layer]
            if not layers:
                pat = silence()
            else:
                n = int(steps_per_cycle) if steps_per_cycle else len(layers[0])
                pat = polymeter(n, *[[s.pattern for s in layer] for layer in layers])
            source = ""
        elif ch in "~-" and (self.i + 1 >= len(self.text) or not self.text[self.i + 1].isdigit()
                               or ch == "~"):
            self.i += 1
            pat, source = silence(), "~"
        else:
            w = self.word()
            if not w:
                self.error(f"unexpected {ch!r}" if ch else "unexpected end of pattern")
            pat, source = pure(_value(w)), w
        steps = [_Step(pat, source=source)]
        return self.modifiers(steps, start)

    def expect(self, closing: str, opened_at: int):
        self.skip_space()
        if self.peek() != closing:
            opener = {"]": "[", ">": "<", "}": "{"}[closing]
            if self.peek() == "":
                self.error(f"'{opener}' is never closed", opened_at)
            self.error(f"expected '{closing}' to close the '{opener}' at column {opened_at + 1}, found {self.peek()!r}")
        self.i += 1

    def factor_pattern(self, what: str):
        """A number or a bracketed pattern of numbers (as in "c4*<2 3>")."""
        if self.peek() and self.peek() in "[<":
            sub = self.step()[0].pattern
            return sub
        return self.number(what)

    def positive(self, factor, what: str, at: int):
        """A factor or divisor: a number above 0, or a pattern whose events that are not are rests."""
        if isinstance(factor, Pattern):
            return factor.filter_values(_is_positive)
        if factor <= 0:
            self.error(f"the {what} must be above 0", at)
        return factor

    def euclid_arguments(self, args: list, at: int) -> list:
        """(onsets, steps[, rotation]) as whole numbers or patterns of them, checked over their first
        cycles; a later event that is not one is a rest."""
        checked = []
        for i, a in enumerate(args):
            values = [h.value for h in a.query(0, 8)] if isinstance(a, Pattern) else [a]
            if any(not _is_whole(v) for v in values):
                self.error("a Euclidean rhythm takes whole numbers: (onsets,steps[,rotation])", at)
            if i == 1 and any(not 1 <= v <= MAX_REPEAT for v in values):
                self.error(f"the step count of a Euclidean rhythm must be from 1 to {MAX_REPEAT}", at)
            if isinstance(a, Pattern):
                keep = (lambda v: _is_whole(v) and 1 <= v <= MAX_REPEAT) if i == 1 else _is_whole
                checked.append(a.filter_values(keep).fmap(int))
            else:
                checked.append(int(a))
        return checked

    def modifiers(self, steps: list[_Step], start: int) -> list[_Step]:
        while True:
            ch = self.peek()
            step = steps[-1]
            if ch == "*":
                self.i += 1
                at = self.i
                f = self.factor_pattern("the factor after '*'")
                step.pattern = step.pattern.fast(self.positive(f, "factor", at))
            elif ch == "/":
                self.i += 1
                at = self.i
                f = self.factor_pattern("the divisor after '/'")
                step.pattern = step.pattern.slow(self.positive(f, "divisor", at))
            elif ch == "@":
                self.i += 1
                at = self.i
                w = self.number("the weight after '@'")
                if w <= 0:
                    self.error("the weight after '@' must be above 0", at)
                step.weight = w
            elif ch == "!":
                nxt = self.text[self.i + 1] if self.i + 1 < len(self.text) else ""
                if not nxt.isdigit():
                    break                       # a bare '!' is a step of its own: repeat
                self.i += 1
                at = self.i
                n = self.number("the count after '!'")
                if n.denominator != 1 or not 1 <= n <= MAX_REPEAT:
                    self.error(f"the count after '!' must be a whole number from 1 to {MAX_REPEAT}", at)
                steps.extend(_Step(step.pattern, step.weight, step.source) for _ in range(int(n) - 1))
            elif ch == "?":
                self.i += 1
                amount = 0.5
                if self.peek().isdigit() or self.peek() == ".":
                    at = self.i
                    amount = float(self.number("the probability after '?'"))
                    if not 0 <= amount <= 1:
                        self.error("the probability after '?' must be between 0 and 1", at)
                self.seed += 1
                step.pattern = step.pattern.degrade_by(amount, seed=self.seed)
            elif ch == "(":
                self.i += 1
                at = self.i
                args = [self.factor_pattern("a Euclidean argument")]
                while True:
                    self.skip_space()
                    if self.peek() == ",":
                        self.i += 1
                        self.skip_space()
                        args.append(self.factor_pattern("a Euclidean argument"))
                    else:
                        break
                self.skip_space()
                if self.peek() != ")":
                    self.error("a Euclidean rhythm is written (onsets,steps) or (onsets,steps,rotation)", at)
                self.i += 1
                if len(args) not in (2, 3):
                    self.error("a Euclidean rhythm takes 2 or 3 arguments: (onsets,steps[,rotation])", at)
                step.pattern = euclid(step.pattern, *self.euclid_arguments(args, at))
            else:
                break
        return steps


def _is_positive(v) -> bool:
    return isinstance(v, (int, float, Fraction)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _is_whole(v) -> bool:
    return isinstance(v, (int, Fraction)) and not isinstance(v, bool) and F(v).denominator == 1


def mini(text: str) -> Pattern:
    """Parse mini-notation into a Pattern; a mistake raises MiniNotationError naming the column."""
    return _Parser(text).parse()

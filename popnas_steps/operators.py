"""Operators of the search space, parsed from the strings the paper uses.

An operator string names a kind and its kernel, e.g. "3x3 dconv" or "1x5-5x1 conv".
Any kernel size in these patterns is accepted, so the operator set is configurable:

    "NxM conv"       convolution
    "NxM dconv"      depthwise-separable convolution
    "1xN-Nx1 conv"   stacked 1xN then Nx1 convolutions
    "NxM maxpool"    max pooling
    "NxM avgpool"    average pooling
    "identity"       identity (a 1x1 convolution when depth or stride must change)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# The 12 operators of paper section 3.1, in the paper's order.
PAPER_OPERATORS: tuple[str, ...] = (
    "3x3 dconv",
    "5x5 dconv",
    "7x7 dconv",
    "1x3-3x1 conv",
    "1x5-5x1 conv",
    "1x7-7x1 conv",
    "identity",
    "1x1 conv",
    "3x3 conv",
    "5x5 conv",
    "2x2 maxpool",
    "2x2 avgpool",
)

_KERNEL_PATTERN = re.compile(r"^(\d+)x(\d+) (conv|dconv|maxpool|avgpool)$")
_STACKED_PATTERN = re.compile(r"^1x(\d+)-(\d+)x1 conv$")


@dataclass(frozen=True)
class Operator:
    """A parsed operator: its canonical name, kind and kernel (height, width)."""

    name: str
    kind: str
    kernel: tuple[int, int]


class OperatorError(ValueError):
    """An operator string that matches none of the known patterns."""


@cache
def parse_operator(text: str) -> Operator:
    """Parse an operator string such as "3x3 conv"; raise OperatorError naming it if unknown."""
    if not isinstance(text, str):
        raise OperatorError(f"operator {text!r} is not a string")
    name = " ".join(text.strip().split())
    if re.search(r"(?<!\d)0\d", name):  # "03x3 conv" would be a second spelling of "3x3 conv"
        raise OperatorError(f"operator {text!r}: write its sizes without leading zeros (one spelling per operator)")
    if name == "identity":
        return Operator(name, "identity", (1, 1))
    stacked = _STACKED_PATTERN.match(name)
    if stacked:
        first, second = int(stacked.group(1)), int(stacked.group(2))
        if first != second or first < 1:
            raise OperatorError(f"unknown operator {text!r}: a stacked convolution is '1xN-Nx1 conv' with the same N")
        return Operator(name, "stacked_conv", (first, first))
    kernel = _KERNEL_PATTERN.match(name)
    if kernel:
        height, width, kind = int(kernel.group(1)), int(kernel.group(2)), kernel.group(3)
        if height < 1 or width < 1:
            raise OperatorError(f"unknown operator {text!r}: kernel sizes must be >= 1")
        return Operator(name, kind, (height, width))
    raise OperatorError(
        f"unknown operator {text!r}; expected one of the patterns 'NxM conv', 'NxM dconv', "
        "'1xN-Nx1 conv', 'NxM maxpool', 'NxM avgpool', 'identity'"
    )


def parse_operators(texts: list[str] | tuple[str, ...]) -> tuple[Operator, ...]:
    """Parse a configured operator set; duplicates are an error since they skew the search."""
    operators = tuple(parse_operator(text) for text in texts)
    names = [op.name for op in operators]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise OperatorError(f"operator set lists {duplicates} more than once")
    if not operators:
        raise OperatorError("operator set is empty")
    return operators

"""Operators of the search space, parsed from the strings the paper uses.

An operator string names a kind and its kernel, e.g. "3x3 dconv" or "1x5-5x1 conv".
Any kernel size in these patterns is accepted, so the operator set is configurable:

    "NxM conv"       convolution
    "NxM dconv"      depthwise-separable convolution
    "1xN-Nx1 conv"   stacked 1xN then Nx1 convolutions
    "NxM maxpool"    max pooling
    "NxM avgpool"    average pooling
    "identity"       identity (a 1x1 convolution when depth or stride must change)

Each kind is one entry of OPERATOR_KINDS: its spelling, its pattern and what it builds
from a network backend's primitives (popnas_steps.network.Layers: Keras, ONNX, work counts,
feature-map sizes). A kind built from the existing primitives is one entry here; one that
needs a new primitive adds it to each backend too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


@dataclass(frozen=True)
class Operator:
    """A parsed operator: its canonical name, kind and kernel (height, width)."""

    name: str
    kind: str
    kernel: tuple[int, int]


class OperatorError(ValueError):
    """An operator string that matches none of the known patterns."""


# --- what each kind builds, from the primitives of a network backend -----------------------
# `layers` is any backend of popnas_steps.network.Layers (Keras, ONNX, work counts, shapes):
# the operator is built once here, whatever the backend makes of it.


def _conv(layers, x, op: Operator, filters: int, strides: int, name: str):
    return layers.conv_bn_swish(x, filters, op.kernel, strides, name)


def _separable_conv(layers, x, op: Operator, filters: int, strides: int, name: str):
    return layers.conv_bn_swish(x, filters, op.kernel, strides, name, separable=True)


def _stacked_conv(layers, x, op: Operator, filters: int, strides: int, name: str):
    size = op.kernel[0]
    # Named by their kernels; "1x1-1x1 conv"'s two halves would share one name, which
    # Keras refuses, so its second half is _1x1b. Other sizes keep their names as they were.
    second = f"{name}_{size}x1" if size > 1 else f"{name}_1x1b"
    x = layers.conv_bn_swish(x, filters, (1, size), strides, f"{name}_1x{size}")
    return layers.conv_bn_swish(x, filters, (size, 1), 1, second)


def _pool(layers, x, op: Operator, filters: int, strides: int, name: str):
    depth = layers.channels(x)
    x = layers.pool(x, op.kind, op.kernel, strides, name)
    return x if depth == filters else layers.conv_bn_swish(x, filters, 1, 1, f"{name}_proj")


def _identity(layers, x, op: Operator, filters: int, strides: int, name: str):
    if layers.channels(x) == filters and strides == 1:
        return x
    return layers.conv_bn_swish(x, filters, 1, strides, f"{name}_proj")


def _sizes(match: re.Match, text: str) -> tuple[int, int]:
    height, width = int(match.group(1)), int(match.group(2))
    if height < 1 or width < 1:
        raise OperatorError(f"unknown operator {text!r}: kernel sizes must be >= 1")
    return height, width


def _stacked_sizes(match: re.Match, text: str) -> tuple[int, int]:
    first, second = int(match.group(1)), int(match.group(2))
    if first != second or first < 1:
        raise OperatorError(f"unknown operator {text!r}: a stacked convolution is '1xN-Nx1 conv' with the same N")
    return first, first


# The builder of one operator: (layers, input, operator, filters, strides, name) -> output
Build = Callable[..., object]


@dataclass(frozen=True)
class OperatorKind:
    """One kind of operator: how its strings are spelt and parsed, and what it builds."""

    name: str  # Operator.kind
    spelling: str  # its pattern, as errors and docs write it: N and M stand for sizes
    kernel: Callable[[re.Match, str], tuple[int, int]]  # (match, text) -> kernel; OperatorError on bad sizes
    build: Build

    @property
    def pattern(self) -> re.Pattern:
        """What a canonical operator string of this kind matches: the spelling, sizes for N and M."""
        return re.compile(re.escape(self.spelling).replace("N", r"(\d+)").replace("M", r"(\d+)"))


OPERATOR_KINDS: dict[str, OperatorKind] = {
    kind.name: kind
    for kind in (
        OperatorKind("conv", "NxM conv", _sizes, _conv),
        OperatorKind("dconv", "NxM dconv", _sizes, _separable_conv),
        OperatorKind("stacked_conv", "1xN-Nx1 conv", _stacked_sizes, _stacked_conv),
        OperatorKind("maxpool", "NxM maxpool", _sizes, _pool),
        OperatorKind("avgpool", "NxM avgpool", _sizes, _pool),
        OperatorKind("identity", "identity", lambda match, text: (1, 1), _identity),
    )
}


@cache
def parse_operator(text: str) -> Operator:
    """Parse an operator string such as "3x3 conv"; raise OperatorError naming it if unknown."""
    if not isinstance(text, str):
        raise OperatorError(f"operator {text!r} is not a string")
    name = " ".join(text.strip().split())
    if re.search(r"(?<!\d)0\d", name):  # "03x3 conv" would be a second spelling of "3x3 conv"
        raise OperatorError(f"operator {text!r}: write its sizes without leading zeros (one spelling per operator)")
    for kind in OPERATOR_KINDS.values():
        match = kind.pattern.fullmatch(name)
        if match:
            return Operator(name, kind.name, kind.kernel(match, text))
    spellings = ", ".join(f"'{kind.spelling}'" for kind in OPERATOR_KINDS.values())
    raise OperatorError(f"unknown operator {text!r}; expected one of the patterns {spellings}")


def build_operator(layers, x, op: Operator, filters: int, strides: int, name: str):
    """The output of operator `op` on `x`, built with the primitives of the backend `layers`."""
    return OPERATOR_KINDS[op.kind].build(layers, x, op, filters, strides, name)


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

"""The work of a network, counted from its cell without building it (ours, not the paper's).

A training's time is, to first order, the work its network does per image times the
images: multiply-adds of the convolutions, of the depthwise-separable convolutions, values
read by the pooling windows, values written by every layer (BatchNorm, swish, add, concat:
memory-bound work), and one launch per layer. These five counts are additive over layers,
so a cell of a new step is simply more of the same work: a linear model on them
extrapolates to cells larger than any it was fitted on, where the paper's reindexed
features (and trees on them) do not, e.g. the concat + 1x1 projection of two unused
blocks, which no one-block cell has.

The same tables count the network's parameters exactly (`WorkCounter.params`, what Keras'
`count_params()` gives: BatchNorm's moving statistics included), so a parameter budget can
be checked on every candidate without building one. The counts are the walk through the
cell (popnas_steps.network) with a backend of work (`WorkLayers`): each operator is built
by its kind's entry, as in Keras (tests/test_work.py checks the counts against built Keras
models, and the tables against the whole walk). They are
computed for whole arrays of encoded cells (n, b, 4), as the expansion step scores
hundreds of thousands of candidates: each operator's work depends only on the cell
position, the operator and where its input comes from (-2, -1 or a block), so it is
tabulated once per network and summed per cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from popnas_steps.macro import NetworkSpec, built_indices, resolutions
from popnas_steps.network import FeatureMap, MapLayers, as_kernel
from popnas_steps.operators import build_operator, parse_operator
from popnas_steps.space import by_size

WORK_NAMES = ("conv_madds", "separable_madds", "pool_reads", "values", "layers")
COUNT_NAMES = (*WORK_NAMES, "params")  # what the tables below hold: the work, then the parameters
_PATTERNS = ({-1: True, -2: False}, {-1: False, -2: True}, {-1: True, -2: True})  # lookbacks a cell reads


@dataclass(frozen=True)
class DataShape:
    """What the work of a network depends on besides its cell and macro structure."""

    input_shape: tuple[int, int, int]
    num_classes: int

    @classmethod
    def from_metadata(cls, metadata: dict) -> DataShape:
        """From a prepared dataset's metadata.json."""
        return cls(tuple(int(size) for size in metadata["input_shape"]), int(metadata["num_classes"]))

    @classmethod
    def read(cls, path: str | Path) -> DataShape:
        """From the metadata.json file at `path`; a file that is not one is an error naming it."""
        try:
            shape = cls.from_metadata(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"'{path}' is not a dataset's metadata.json with input_shape [height, width, channels] and "
                f"num_classes ({type(error).__name__}: {error}); prepare the data again"
            ) from None
        if len(shape.input_shape) != 3 or min(shape.input_shape) < 1 or shape.num_classes < 1:
            raise ValueError(
                f"'{path}' gives input_shape {list(shape.input_shape)} and num_classes "
                f"{shape.num_classes}: a positive [height, width, channels] and count are needed"
            )
        return shape


def _work(**counts: float) -> np.ndarray:
    vector = np.zeros(len(COUNT_NAMES))
    for name, value in counts.items():
        vector[COUNT_NAMES.index(name)] = value
    return vector


def _batchnorm_params(channels: int) -> int:
    return 4 * channels  # gamma, beta and the two moving statistics


def _conv_bn_swish(
    source: FeatureMap, filters: int, kernel: tuple[int, int], stride: int, separable=False
) -> np.ndarray:
    out = source.strided(stride, filters)
    window = kernel[0] * kernel[1]
    if separable:  # a depthwise kernel per input channel, then a 1x1 pointwise; no bias
        madds = _work(
            separable_madds=out.height * out.width * source.channels * (window + filters),
            params=source.channels * (window + filters),
        )
    else:
        madds = _work(conv_madds=out.values * window * source.channels, params=window * source.channels * filters)
    return madds + _work(values=3 * out.values, layers=3, params=_batchnorm_params(filters))  # conv, BN, swish


class WorkLayers(MapLayers):
    """The walk through a cell (popnas_steps.network) as work: each primitive adds its counts
    to `total` and returns the size of the map it makes."""

    def __init__(self) -> None:
        self.total = _work()

    def conv_bn_swish(self, x: FeatureMap, filters, kernel, strides, name, separable=False) -> FeatureMap:
        self.total = self.total + _conv_bn_swish(x, filters, as_kernel(kernel), strides, separable)
        return super().conv_bn_swish(x, filters, kernel, strides, name, separable)

    def pool(self, x: FeatureMap, kind, kernel, strides, name) -> FeatureMap:
        pooled = super().pool(x, kind, kernel, strides, name)
        height, width = as_kernel(kernel)
        self.total = self.total + _work(pool_reads=pooled.values * height * width, values=pooled.values, layers=1)
        return pooled

    def add(self, branches: list[FeatureMap], name) -> FeatureMap:
        out = super().add(branches, name)
        self.total = self.total + _work(values=out.values, layers=1)
        return out

    def concat(self, branches: list[FeatureMap], name) -> FeatureMap:
        out = super().concat(branches, name)
        self.total = self.total + _work(values=out.values, layers=1)
        return out


def operator_work(name: str, source: FeatureMap, filters: int, stride: int) -> np.ndarray:
    """The work of one operator of a block on `source`, as its kind builds it."""
    layers = WorkLayers()
    build_operator(layers, source, parse_operator(name), filters, stride, name)
    return layers.total


def _output_work(out: FeatureMap, unused: int, filters: int) -> np.ndarray:
    """The concat of `unused` > 1 blocks and its 1x1 projection (network.NetworkBuilder)."""
    layers = WorkLayers()
    layers.conv_bn_swish(layers.concat([out] * unused, "concat"), filters, 1, 1, "out")
    return layers.total


@dataclass(frozen=True)
class _CellTables:
    """The work of one cell position of the network, in parts that the encoding selects."""

    operators: np.ndarray  # (n_operators, 3 sources, work): one operator reading -2, -1 or a block
    add: np.ndarray  # one block's Add
    output_fixed: np.ndarray  # concat + projection of u > 1 unused blocks: fixed part...
    output_per_block: np.ndarray  # ...and the part per concatenated block
    skip_fix: np.ndarray  # the 1x1 stride-2 conv matching -2 to -1's resolution (zero where none)


def _cell_tables(index: int, operators: list[str], spec: NetworkSpec, data: DataShape) -> _CellTables:
    sizes = resolutions(data.input_shape, spec)

    def output_map(cell: int) -> FeatureMap:  # the output of cell `cell` (the image below 0)
        if cell < 0:
            return FeatureMap(*data.input_shape)
        return FeatureMap(*sizes[spec.reductions_through(cell)], spec.filters_of(cell))

    filters, stride = output_map(index).channels, 2 if spec.is_reduction(index) else 1
    minus_one, minus_two = output_map(index - 1), output_map(index - 2)
    skip_fix = np.zeros(len(COUNT_NAMES))
    if spec.reductions_through(index - 2) < spec.reductions_through(index - 1):
        skip_fix = _conv_bn_swish(minus_two, filters, (1, 1), 2)
        minus_two = minus_two.strided(2, filters)
    out = output_map(index)
    sources = ((minus_two, stride), (minus_one, stride), (out, 1))  # a block's output is already strided
    table = np.array([[operator_work(name, source, filters, s) for source, s in sources] for name in operators])
    adding = WorkLayers()
    adding.add([out, out], "add")
    # the concat, the 1x1 conv, BatchNorm and swish of u > 1 unused blocks: linear in u
    per_block = _output_work(out, 3, filters) - _output_work(out, 2, filters)
    return _CellTables(
        operators=table,
        add=adding.total,
        output_fixed=_output_work(out, 2, filters) - 2 * per_block,
        output_per_block=per_block,
        skip_fix=skip_fix,
    )


def head_work(channels: int, spec: NetworkSpec, data: DataShape) -> np.ndarray:
    """GAP, the optional dropout and the softmax Dense on `channels` features."""
    dropout = _work(values=channels, layers=1) if spec.dropout > 0 else _work()
    dense = _work(
        conv_madds=channels * data.num_classes,
        values=data.num_classes,
        layers=1,
        params=(channels + 1) * data.num_classes,
    )
    return _work(values=channels, layers=1) + dropout + dense


class WorkCounter:
    """The five work counts (WORK_NAMES) and the parameters of the networks of encoded cells.

    Built once per operator set, macro structure and data shape; `count` and `params` then
    cost a few numpy gathers per cell.
    """

    def __init__(self, operators: list[str], spec: NetworkSpec, data: DataShape):
        cells = [_cell_tables(index, list(operators), spec, data) for index in range(spec.total_cells)]
        self.empty = head_work(data.input_shape[2], spec, data)
        head = head_work(spec.filters_of(spec.total_cells - 1), spec, data)
        # per pattern of lookbacks read: the sum over the cells the network really builds
        self.operators, self.add, self.output_fixed, self.output_per_block, self.fixed = [], [], [], [], []
        for uses in _PATTERNS:
            built = [cells[index] for index in built_indices(uses, spec)]
            self.operators.append(sum(cell.operators for cell in built))
            self.add.append(sum(cell.add for cell in built))
            self.output_fixed.append(sum(cell.output_fixed for cell in built))
            self.output_per_block.append(sum(cell.output_per_block for cell in built))
            skip_fixes = sum(cell.skip_fix for cell in built) if uses[-2] else 0.0
            self.fixed.append(head + skip_fixes)
        self.operators, self.add = np.array(self.operators), np.array(self.add)
        self.output_fixed, self.output_per_block = np.array(self.output_fixed), np.array(self.output_per_block)
        self.fixed = np.array(self.fixed)

    def count(self, encoded: np.ndarray) -> np.ndarray:
        """(n, len(WORK_NAMES)) counts of cells encoded as (n, b, 4)."""
        return self._totals(encoded)[:, : len(WORK_NAMES)]

    def params(self, encoded: np.ndarray) -> np.ndarray:
        """(n,) parameters of the networks of cells encoded as (n, b, 4), as `count_params()`."""
        return self._totals(encoded)[:, COUNT_NAMES.index("params")].round().astype(np.int64)

    def _totals(self, encoded: np.ndarray) -> np.ndarray:
        encoded = np.asarray(encoded)
        n, b = encoded.shape[0], encoded.shape[1]
        if b == 0:
            return np.repeat(self.empty[None, :], n, axis=0)
        inputs = encoded[:, :, [0, 2]].astype(np.int64)
        operators = encoded[:, :, [1, 3]].astype(np.int64)
        pattern = (inputs == -1).any(axis=(1, 2)) * 1 + (inputs == -2).any(axis=(1, 2)) * 2 - 1
        source = np.where(inputs < 0, inputs + 2, 2)  # -2 -> 0, -1 -> 1, a block -> 2
        work = self.operators[pattern[:, None, None], operators, source].sum(axis=(1, 2))
        unused = unused_block_counts(encoded)[:, None]
        output = (unused > 1) * (self.output_fixed[pattern] + unused * self.output_per_block[pattern])
        return work + b * self.add[pattern] + output + self.fixed[pattern]


def unused_block_counts(encoded: np.ndarray) -> np.ndarray:
    """How many blocks of each encoded cell (n, b, 4) no later block reads."""
    encoded = np.asarray(encoded)
    n, b = encoded.shape[0], encoded.shape[1]
    read = np.zeros((n, b), dtype=bool)
    for side in (0, 2):
        rows, blocks = np.nonzero(encoded[:, :, side] >= 0)
        read[rows, encoded[rows, blocks, side]] = True
    return b - read.sum(axis=1)


def params_of_cells(cells: list, operators: list[str], spec: NetworkSpec, data: DataShape) -> np.ndarray:
    """(n,) exact parameters of the networks of `cells` (space.Cell, of any sizes), in their order."""
    if not cells:  # a step left empty by the budget or a cap: by_size has no size to group by
        return np.zeros(0, dtype=np.int64)
    counter = WorkCounter(list(operators), spec, data)
    (params,) = by_size(cells, operators, lambda encoded: (counter.params(encoded),))
    return params.astype(np.int64)

import pytest

from popnas_steps.operators import PAPER_OPERATORS, OperatorError, parse_operator, parse_operators


def test_paper_operators_parse_to_their_kinds():
    kinds = [parse_operator(op).kind for op in PAPER_OPERATORS]
    assert kinds == ["dconv"] * 3 + ["stacked_conv"] * 3 + ["identity", "conv", "conv", "conv", "maxpool", "avgpool"]
    assert parse_operator("1x7-7x1 conv").kernel == (7, 7)
    assert parse_operator("2x2 avgpool").kernel == (2, 2)


@pytest.mark.parametrize(
    "text, kind, kernel",
    [
        ("9x9 dconv", "dconv", (9, 9)),
        ("3x5 conv", "conv", (3, 5)),
        ("1x11-11x1 conv", "stacked_conv", (11, 11)),
        ("3x3 maxpool", "maxpool", (3, 3)),
        ("  3x3   conv ", "conv", (3, 3)),
    ],
)
def test_any_kernel_size_in_the_patterns(text, kind, kernel):
    op = parse_operator(text)
    assert (op.kind, op.kernel) == (kind, kernel)


@pytest.mark.parametrize("text", ["3x3 convolution", "1x3-5x1 conv", "0x3 conv", "maxpool", "", "Identity"])
def test_unknown_operator_is_an_error_naming_it(text):
    with pytest.raises(OperatorError, match=repr(text).replace("[", r"\[")):
        parse_operator(text)


def test_operator_set_rejects_duplicates_and_emptiness():
    with pytest.raises(OperatorError, match="more than once"):
        parse_operators(["3x3 conv", "3x3  conv"])
    with pytest.raises(OperatorError, match="empty"):
        parse_operators([])


@pytest.mark.parametrize("text", ["03x3 conv", "3x03 dconv", "1x07-7x1 conv", "00x2 maxpool"])
def test_leading_zeros_are_not_a_second_spelling_of_an_operator(text):
    with pytest.raises(OperatorError, match="without leading zeros"):
        parse_operator(text)
    assert parse_operator("10x10 conv").kernel == (10, 10)  # a zero that is no leading one

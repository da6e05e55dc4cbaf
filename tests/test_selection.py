"""core/selection: the index logic behind GenzIQA Filter and Rank."""

import pytest

from genziqa.core.selection import best_fraction, by_threshold, ranking

SCORES = [0.3, -1.0, 0.7, 0.3, 0.1]


def test_threshold_keeps_batch_order():
    split = by_threshold(SCORES, 0.3)
    assert split.kept == (0, 2, 3) and split.rejected == (1, 4)
    assert by_threshold(SCORES, 5).kept == () and by_threshold(SCORES, -5).rejected == ()


@pytest.mark.parametrize("fraction, kept", [(0.0, ()), (0.2, (2,)), (0.3, (0, 2)), (0.5, (0, 2, 3)), (1.0, (0, 1, 2, 3, 4))])
def test_best_fraction_rounds_up_and_ties_go_to_the_earlier_image(fraction, kept):
    assert best_fraction(SCORES, fraction).kept == kept


def test_best_fraction_is_exact_at_round_shares():
    assert len(best_fraction(list(range(10)), 0.3).kept) == 3  # 0.3 * 10 is 3.0000000000000004


def test_ranking_both_ways_with_top_k():
    assert ranking(SCORES) == (2, 0, 3, 4, 1)
    assert ranking(SCORES, best_first=False) == (1, 4, 0, 3, 2)
    assert ranking(SCORES, top_k=2) == (2, 0) and ranking(SCORES, top_k=99) == (2, 0, 3, 4, 1)
    assert ranking([]) == ()


def test_bad_values_are_named():
    with pytest.raises(ValueError, match=r"fraction=1.5 is outside \[0, 1\]"):
        best_fraction(SCORES, 1.5)
    with pytest.raises(ValueError, match=r"top_k=-1 must be a whole number"):
        ranking(SCORES, top_k=-1)
    with pytest.raises(ValueError, match=r"positions \[1\] are not finite"):
        ranking([0.1, float("nan")])
    with pytest.raises(ValueError, match=r"threshold=inf is not a finite number"):
        by_threshold(SCORES, float("inf"))

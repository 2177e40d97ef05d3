"""The simplifier's confidence: the pure assessment, the calibration recorded at build time, and
the served model telling template sentences from real abstract sentences it cannot handle."""

from __future__ import annotations

import math

import pytest

from pls_core.confidence import assess, calibrate, roc_auc

# --- pure logic -----------------------------------------------------------------------------

def test_confidence_is_the_token_weighted_geometric_mean_probability():
    result = assess([math.log(0.9), math.log(0.5)], [30, 10], threshold=None)
    assert result.chunk_confidences == [0.9, 0.5]
    expected = math.exp((30 * math.log(0.9) + 10 * math.log(0.5)) / 40)
    assert result.confidence == pytest.approx(expected, abs=1e-4)
    assert result.low_confidence is False and result.reason is None


def test_a_chunk_below_the_threshold_marks_the_summary_with_a_reason():
    result = assess([math.log(0.95), math.log(0.3), math.log(0.9)], [5, 5, 5], threshold=0.6)
    assert result.low_confidence is True
    assert "1 of 3 parts" in result.reason and "part 2" in result.reason and "0.30" in result.reason
    alone = assess([math.log(0.3)], [5], threshold=0.6)
    assert alone.low_confidence and "for the text" in alone.reason
    assert not assess([math.log(0.61)], [5], threshold=0.6).low_confidence


def test_assess_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="one mean log-probability and one token count per chunk"):
        assess([], [], threshold=0.5)
    with pytest.raises(ValueError, match="one mean log-probability and one token count per chunk"):
        assess([-0.1], [1, 2], threshold=0.5)


def test_roc_auc_and_calibration_on_separable_and_overlapping_sets():
    high, low = [0.9, 0.95, 0.85, 0.99], [0.2, 0.4, 0.3, 0.5]
    assert roc_auc(high, low) == 1.0 and roc_auc(low, high) == 0.0
    result = calibrate(high, low)
    assert 0.5 < result["threshold"] < 0.85
    assert result["out_of_domain_flagged"] == 1.0 and result["in_domain_flagged"] == 0.0
    overlapping = calibrate([0.9, 0.6, 0.8, 0.3], [0.7, 0.2, 0.25, 0.5])
    assert overlapping["roc_auc"] == 0.8125  # 13 of the 16 pairs ordered right
    assert overlapping["out_of_domain_flagged"] >= overlapping["in_domain_flagged"]

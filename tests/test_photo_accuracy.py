"""Issue #14: a slice of the photo-like set through the whole upload path with the shipped default model.

The full set (1,500 photos) is measured by the benchmark (python -m benchmarks, inference section); this
slice keeps a floor under it in the test suite.
"""

from __future__ import annotations

import pytest

from fmnist_core.constants import PRETRAINED_DIR
from fmnist_core.photoset import generate_photos, score_photoset

SLICE = 60
SEED = 0
# This slice with the shipped default model scored 86.7% (52 of 60, none refused) on 2026-12-01 before
# the low-resolution garment finder, and 83.3% (50 of 60; LiteRT copy) after it, while the whole 500-photo
# set went from 81.4% to 85.4%: 60 photos swing by a few either way (86.7% again on 2026-12-06 with the model
# trained with photo renders, 90.93% on the benchmark's 1,500 photos). The floor leaves room for that and
# for a retrained default model (five more misses); the whole set's figure and its target (85%) are the
# benchmark's.
ACCURACY_FLOOR = 0.75


@pytest.mark.slow
def test_photo_set_slice_is_classified_and_never_refused(real_dataset, tmp_path):
    from fmnist_core.inference import Predictor
    from fmnist_core.runs import RunStore

    store = RunStore(root=tmp_path, pretrained_dir=PRETRAINED_DIR)
    predictor = Predictor(store.load_model("default"))
    samples = generate_photos(real_dataset.x_test, real_dataset.y_test, SLICE, seed=SEED)
    score = score_photoset(((s.data, s.label) for s in samples),
                           lambda data: predictor.classify_bytes(data).probabilities)
    assert score.count == SLICE and (score.total == SLICE // 10).all()
    assert score.refusals == 0, score.refusal_messages
    assert score.accuracy >= ACCURACY_FLOOR, score.describe()

"""The pure checks behind issue 23's one-line refusals: overlap of outputs and inputs, resume rules,
out-of-memory messages, colour maps, classical memory estimates and trainable shapes.

The commands that use them are driven end to end by ``tests/test_bad_input.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcflnet_lib.classical.limits import patch_method_bytes
from gcflnet_lib.data.pred_maps import is_colour_picture
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.engine.oom import describe_oom, format_bytes, is_out_of_memory, requested_bytes
from gcflnet_lib.engine.overlap import Input, first_overlap, refuse_overlap, refuse_written_inputs
from gcflnet_lib.engine.resume import resume_changes
from gcflnet_lib.engine.trainable import bottleneck_side, check_batchnorm_batch
from gcflnet_lib.errors import OutputError, UserError


class TestOverlap:
    def test_an_output_inside_an_input_or_through_a_link_is_found(self, tmp_path):
        (tmp_path / "data" / "masks").mkdir(parents=True)
        (tmp_path / "link").symlink_to(tmp_path / "data" / "masks", target_is_directory=True)
        masks = [Input("the masks", tmp_path / "data" / "masks")]
        assert first_overlap(tmp_path / "data" / "masks" / "x.json", masks) == masks[0]
        assert first_overlap(tmp_path / "link", masks) == masks[0]
        assert first_overlap(tmp_path / "data" / "maps", masks) is None
        assert first_overlap(tmp_path / "data", masks) is None  # holding an input is not overwriting it
        with pytest.raises(OutputError, match=r"link: --save-maps is the masks .*; choose another folder"):
            refuse_overlap(tmp_path / "link", "--save-maps", masks, "folder")
        refuse_overlap(None, "--json", masks)  # a flag not given passes

    def test_a_target_on_an_input_file_is_refused_but_a_link_target_is_not_followed(self, tmp_path):
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.png").write_bytes(b"x")
        (tmp_path / "out" / "prob").mkdir(parents=True)
        (tmp_path / "out" / "prob" / "b.png").symlink_to(tmp_path / "in" / "a.png")
        inputs = [Input("the image", tmp_path / "in" / "a.png")]
        refuse_written_inputs(tmp_path / "out", "--out", [tmp_path / "out" / "prob" / "b.png"], inputs)  # replaces the link
        with pytest.raises(OutputError, match="would write"):
            refuse_written_inputs(tmp_path / "in", "--out", [tmp_path / "in" / "a.png"], inputs)


class TestResumeRules:
    SAVED = TrainConfig(data_root="d", dataset="Toy", out_dir="o", epochs=2, lr=1e-3, batch_size=2, seed=0).to_dict()

    def test_schedule_changes_are_accepted_and_batch_or_seed_refused(self):
        config = TrainConfig(data_root="d", dataset="Toy", out_dir="o", epochs=4, lr=5e-4, batch_size=4, seed=7)
        accepted, refused = resume_changes(self.SAVED, config)
        assert [str(c) for c in accepted] == ["--epochs 4 (saved 2)", "--lr 0.0005 (saved 0.001)"]
        assert [str(c) for c in refused] == ["--batch-size 4 (saved 2)", "--seed 7 (saved 0)"]

    def test_same_settings_differ_in_nothing_and_old_records_compare_what_they_hold(self):
        config = TrainConfig(data_root="d", dataset="Toy", out_dir="o", epochs=2, lr=1e-3, batch_size=2, seed=0)
        assert resume_changes(self.SAVED, config) == ([], [])
        assert resume_changes({"epochs": 2}, TrainConfig(data_root="d", dataset="Toy", out_dir="o", epochs=2)) == ([], [])


class TestOutOfMemory:
    @pytest.mark.parametrize("exc, size", [
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10000000000 bytes."), "9.31 GiB"),
        (MemoryError("Unable to allocate 298. GiB for an array with shape (10000, 2000, 2000)"), "298.00 GiB"),
        (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), "20.00 MiB"),
    ])
    def test_the_size_is_read_from_each_library_s_message(self, exc, size):
        assert is_out_of_memory(exc) and format_bytes(requested_bytes(exc)) == size
        assert describe_oom(exc, "for --size 9; lower --size") == f"out of memory (tried to allocate {size}) for --size 9; lower --size"

    def test_other_runtime_errors_are_not_out_of_memory(self):
        assert not is_out_of_memory(RuntimeError("shape mismatch"))
        assert describe_oom(MemoryError()) == "out of memory; lower the batch size or the image size"


def test_colour_pictures_differ_between_channels_gray_stored_as_rgb_does_not():
    gray = np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert not is_colour_picture(rgb) and not is_colour_picture(gray)
    rgb[1, 1] = (0, 0, 255)
    assert is_colour_picture(rgb)


def test_patch_memory_grows_with_the_overlap_layers():
    default = patch_method_bytes((256, 256), 50, 10)
    assert default < 2**30 < patch_method_bytes((256, 256), 1000, 10)  # the patch=1000: about 300 GiB


def test_a_one_value_bottleneck_is_refused_naming_the_flags():
    assert bottleneck_side(32, 6) == 1 and bottleneck_side(32, 7) == 1 and bottleneck_side(256, 5) == 16
    config = TrainConfig(data_root="d", dataset="Toy", out_dir="o", channels=(4, 8, 16, 32, 64, 128), batch_size=1,
                         crop_size=32)
    with pytest.raises(UserError, match=r"--batch-size 1 with --crop-size 32 .* 1x1 bottleneck"):
        check_batchnorm_batch(config)
    check_batchnorm_batch(TrainConfig(data_root="d", dataset="Toy", out_dir="o", channels=(4, 8, 16, 32, 64, 128),
                                      batch_size=2, crop_size=32))

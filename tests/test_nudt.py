"""NUDT-SIRST end to end: its split, its masks, its normalisation, and its CPU recipe."""


from gcflnet_lib.data.dataset import NORM_STATS, compute_norm_stats, load_split, norm_stats_for
from gcflnet_lib.data.layout import read_split
from gcflnet_lib.engine.presets import PRESETS


class TestNudtSplit:
    def test_split_sizes_are_dnanets(self, nudt_root):
        train, test = (read_split(nudt_root, "NUDT-SIRST", split) for split in ("train", "test"))
        assert (len(train), len(test)) == (663, 664)
        assert not set(train) & set(test)

    def test_every_image_has_its_mask_of_the_same_size(self, nudt_root):
        for split in ("train", "test"):
            for name in read_split(nudt_root, "NUDT-SIRST", split):
                assert (nudt_root / "images" / f"{name}.png").is_file(), name
                assert (nudt_root / "masks" / f"{name}.png").is_file(), name

    def test_loaded_split_is_256_square_with_targets(self, nudt_root):
        samples = load_split(nudt_root, "NUDT-SIRST", "test")
        assert len(samples) == 664
        assert {s.image.shape for s in samples} == {(256, 256)}
        assert all(s.mask.shape == s.image.shape for s in samples)
        assert sum(bool(s.mask.any()) for s in samples) >= 600  # nearly every image holds a target

    def test_norm_stats_are_basicirstds_published_ones(self, nudt_root):
        assert norm_stats_for("NUDT-SIRST", []) == NORM_STATS["NUDT-SIRST"]
        mean, std = compute_norm_stats(load_split(nudt_root, "NUDT-SIRST", "train")[:50])
        assert abs(mean - NORM_STATS["NUDT-SIRST"][0]) < 15 and abs(std - NORM_STATS["NUDT-SIRST"][1]) < 15


class TestCpuNudtPreset:
    def test_keeps_the_cpu_recipes_number_of_steps(self):
        cpu, nudt = PRESETS["cpu"], PRESETS["cpu-nudt"]
        steps = {"cpu": cpu["epochs"] * (213 // cpu["batch_size"]), "cpu-nudt": nudt["epochs"] * (663 // nudt["batch_size"])}
        assert steps == {"cpu": 2600, "cpu-nudt": 2624}
        assert {k: v for k, v in nudt.items() if k not in ("epochs", "milestones", "eval_every", "save_every")} == \
            {k: v for k, v in cpu.items() if k not in ("epochs", "milestones", "eval_every", "save_every")}

    def test_milestones_at_the_same_fractions(self):
        cpu, nudt = PRESETS["cpu"], PRESETS["cpu-nudt"]
        for ours, theirs in zip(nudt["milestones"], cpu["milestones"]):
            assert ours == round(theirs / cpu["epochs"] * nudt["epochs"])

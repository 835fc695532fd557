"""Thread choice for CPU training on a shared machine (engine.cpu_threads) and the --threads flag."""

import pytest
import torch

from gcflnet_lib.engine import cpu_threads
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.errors import UserError


class TestFreeCores:
    @pytest.mark.parametrize(("load", "own", "cores", "expected"), [
        (0.0, 0.0, 2, 2),    # quiet machine: every core
        (1.0, 0.0, 2, 1),    # one busy neighbour: the other core
        (3.0, 2.0, 2, 1),    # our 2 threads plus one neighbour
        (2.1, 2.0, 2, 2),    # only our own load
        (8.0, 0.0, 2, 1),    # overloaded: never below 1
        (0.0, 0.0, 16, 16),
        (5.4, 1.0, 16, 12),
    ])
    def test_cores_minus_the_load_of_others(self, load, own, cores, expected):
        assert cpu_threads.free_cores(load=load, own_threads=own, cores=cores) == expected


class TestParse:
    @pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), (None, "auto"), (" AUTO ", "auto"), ("3", 3), (2, 2)])
    def test_accepted(self, value, expected):
        assert cpu_threads.parse_threads(value) == expected

    @pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
    def test_refused(self, value):
        with pytest.raises(ValueError, match="auto' or a positive integer"):
            cpu_threads.parse_threads(value)

    def test_train_config_names_the_flag(self):
        with pytest.raises(UserError, match="--threads"):
            TrainConfig(data_root="d", dataset="D", out_dir="o", threads="zero")
        assert TrainConfig(data_root="d", dataset="D", out_dir="o", threads="2").threads == 2
        assert TrainConfig(data_root="d", dataset="D", out_dir="o").threads is None


class TestRetuner:
    def test_a_fixed_count_is_set_and_kept(self):
        before = torch.get_num_threads()
        try:
            retune = cpu_threads.Retuner(1)
            assert torch.get_num_threads() == 1 and retune() == 1 and not retune.auto
        finally:
            torch.set_num_threads(before)

    def test_auto_follows_the_threads_running_now(self, monkeypatch):
        before = torch.get_num_threads()
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        running = iter([1.0, 2.0, 1.0])  # only us; us and a neighbour; the neighbour left
        monkeypatch.setattr(cpu_threads, "runnable_now", lambda: next(running))
        monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
        try:
            retune = cpu_threads.Retuner("auto")
            assert retune.threads == 2
            assert retune() == 1 and torch.get_num_threads() == 1
            assert retune() == 2 and torch.get_num_threads() == 2
        finally:
            torch.set_num_threads(before)

    def test_the_load_average_is_the_fallback(self, monkeypatch):
        monkeypatch.setattr(cpu_threads, "runnable_now", lambda: None)
        monkeypatch.setattr(cpu_threads.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
        assert cpu_threads.free_cores(cores=2) == 1

    def test_runnable_now_counts_at_least_the_caller(self):
        now = cpu_threads.runnable_now(samples=3, interval_s=0.0)
        assert now is None or now >= 1.0

    def test_auto_never_exceeds_omp_num_threads(self, monkeypatch):
        monkeypatch.setattr(cpu_threads, "runnable_now", lambda: 1.0)
        monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 2)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert cpu_threads.auto_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "junk")
        assert cpu_threads.auto_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert cpu_threads.auto_threads() == 2

"""ASReP (rsir_pl.baselines.asrep and .reverse): the reverse model's data hold no held-out item,
augmented sequences keep their real suffix and replace it for training, decoding is the reverse
model's own ranking without the sequence's items, and the option runs end to end through
``rsir self-improve`` (resuming without retraining the reverse model) and ``rsir study asrep``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rsir_pl import faults
from rsir_pl.baselines import reverse
from rsir_pl.baselines.asrep import decode_pseudo_prior, prepend_pseudo_prior, pseudo_prior_counts
from rsir_pl.baselines.reverse import ReverseModel, reverse_datamodule, reversed_parts
from rsir_pl.cli import main
from rsir_pl.config import ConfigError, DataConfig, GenerationConfig, ModelConfig, RunConfig
from rsir_pl.data.datamodule import SequenceDataModule
from rsir_pl.data.dataset import InteractionDataset
from rsir_pl.data.store import SequenceStore
from rsir_pl.generation.leakage import LeakageError, check_generated
from rsir_pl.loop.callback import generate_for_next_iteration
from rsir_pl.models import build_model
from rsir_pl.storage.export import build_run_store
from rsir_pl.storage.rundir import RunDir

TINY_ARGS = [
    "--data.dataset",
    "synthetic-tiny",
    "--data.max_len",
    "20",
    "--data.batch_size",
    "64",
    "--model.hidden",
    "16",
    "--model.layers",
    "1",
    "--model.heads",
    "1",
    "--trainer.max_epochs",
    "2",
    "--trainer.accelerator",
    "cpu",
    "--trainer.progress_bar",
    "false",
    "--generation.progress",
    "false",
    "--generation.max_len",
    "20",
    "--logger.kind",
    "none",
]


@pytest.fixture(scope="module")
def tiny():
    dm = SequenceDataModule(DataConfig(dataset="synthetic-tiny", max_len=20), seed=0)
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def untrained(tiny):
    """A reverse model that was never trained (decoding does not need a good one)."""
    torch.manual_seed(0)
    return ReverseModel(build_model(ModelConfig(hidden=16, layers=1, heads=1), tiny.num_items, 20), {})


def _held_out_world() -> SequenceDataModule:
    """Users whose validation/test items (41..60) occur in no training part (items 1..40)."""
    rng = np.random.default_rng(0)
    seqs = []
    for u in range(60):
        train = rng.choice(np.arange(1, 41), size=rng.integers(1, 9), replace=False).tolist()
        seqs.append(train + [41 + (u % 10), 51 + (u % 10)])
    ids = np.array([""] + [str(i) for i in range(1, 61)], dtype=object)
    ds = InteractionDataset("held", SequenceStore.from_lists(seqs), 60, ids, np.arange(60).astype(str))
    dm = SequenceDataModule(DataConfig(dataset="unused", max_len=20), dataset=ds)
    dm.setup()
    return dm


# ---------------------------------------------------------------------------- the reverse model's data
def test_reverse_data_are_the_training_parts_backwards_without_held_out_items():
    dm = _held_out_world()
    d0 = dm.d0
    rev = reversed_parts(d0)
    assert [s.tolist() for s in rev] == [s.tolist()[::-1] for s in d0]
    rdm = reverse_datamodule(dm, RunConfig(data=dm.config))
    rs = rdm.split
    # users with fewer than 3 training items are left out; the others keep their forward index
    assert np.array_equal(rs.users, np.flatnonzero(d0.lengths >= 3)) and rs.skipped == int((d0.lengths < 3).sum())
    for j, u in enumerate(rs.users):
        part = d0[u].tolist()
        assert rs.full[j].tolist() == part[::-1]
        assert rs.valid_target[j] == part[1] and rs.test_target[j] == part[0]
        assert rdm.train_store[j].tolist() == part[2:][::-1]
    # nothing the reverse model trains, validates or tests on is a forward validation/test item
    assert rs.full.items.max() <= 40 and rdm.train_store.items.max() <= 40


# ---------------------------------------------------------------------------- the augmentation
def test_pseudo_prior_counts_follow_threshold_length_and_cap():
    lengths = np.array([1, 3, 10, 17, 18, 40])
    assert pseudo_prior_counts(lengths, GenerationConfig()).tolist() == [15, 15, 8, 1, 0, 0]
    cfg = GenerationConfig(asrep_threshold=10, asrep_length=12, asrep_max_items=4)
    assert pseudo_prior_counts(lengths, cfg).tolist() == [4, 4, 0, 0, 0, 0]


def test_augmented_sequences_keep_their_real_suffix_and_replace_it(tiny, untrained):
    split, d0 = tiny.split, tiny.d0
    r = prepend_pseudo_prior(untrained, split, GenerationConfig(), seed=3)
    short = np.flatnonzero(d0.lengths < 18)
    assert np.array_equal(r.source, short) and r.replaces.all() and (r.prefix_len == 0).all()
    assert np.array_equal(r.replaced_sources(), short)
    assert (r.sequences.generation == 1).all() and np.array_equal(r.sequences.root, short)
    held = split.held_out_items()
    in_held = 0
    for i, u in enumerate(short):
        real, seq = d0[u].tolist(), r.sequences[i].tolist()
        n_new = min(15, 18 - len(real))
        assert len(seq) == len(real) + n_new and seq[n_new:] == real
        pseudo = seq[:n_new]
        assert len(set(pseudo)) == n_new and not set(pseudo) & set(real)  # history excluded
        in_held += len(set(pseudo) & set(held[u].tolist()))
    assert r.stats["pseudo_prior_items"] == r.sequences.num_interactions - d0.lengths[short].sum()
    assert r.stats["held_out_in_prepended"] == in_held and r.stats["kept_sequences"] == len(short)
    d1 = SequenceStore.concat([d0, r.sequences])
    check_generated(d0, d1, split, r.source, r.prefix_len, replaces=r.replaces)
    tampered = SequenceStore(r.sequences.items.copy(), r.sequences.offsets, r.sequences.root, r.sequences.generation)
    tampered.items[r.sequences.offsets[1] - 1] = held[short[0], 1]  # user's test item in the suffix
    with pytest.raises(LeakageError, match="training part"):
        check_generated(d0, SequenceStore.concat([d0, tampered]), split, r.source, r.prefix_len, replaces=r.replaces)


def test_greedy_decoding_is_the_reverse_models_best_unseen_item(tiny, untrained):
    model = untrained.model.eval()
    rev = reversed_parts(tiny.d0)
    rows = np.array([0, 5, 17])
    counts = np.array([4, 2, 3])
    got = decode_pseudo_prior(model, rev, rows, counts, GenerationConfig(), seed=0, iteration=0)
    with torch.inference_mode():
        for i, u in enumerate(rows):
            ctx = rev[u].tolist()
            for j in range(counts[i]):
                scores = model.score_all(model.last_hidden(torch.tensor([ctx])))[0]  # re-encoded, no cache
                scores[ctx] = float("-inf")
                assert got[i, j] == int(scores.argmax())
                ctx.append(int(got[i, j]))
            assert (got[i, counts[i] :] == 0).all()


def test_sampled_decoding_is_keyed_per_row(tiny, untrained):
    rev = reversed_parts(tiny.d0)
    rows = np.arange(0, 60, 3)
    counts = np.full(len(rows), 5)
    cfg = GenerationConfig(asrep_top_k=10, batch_size=256)
    a = decode_pseudo_prior(untrained.model, rev, rows, counts, cfg, seed=1, iteration=0)
    small = GenerationConfig(asrep_top_k=10, batch_size=3)
    assert np.array_equal(a, decode_pseudo_prior(untrained.model, rev, rows, counts, small, seed=1, iteration=0))
    one = decode_pseudo_prior(untrained.model, rev, rows[7:8], counts[7:8], cfg, seed=1, iteration=0)
    assert np.array_equal(one[0], a[7])
    assert not np.array_equal(a, decode_pseudo_prior(untrained.model, rev, rows, counts, cfg, seed=2, iteration=0))


def test_options_and_dispatch_errors(tiny, untrained):
    gen = {"method": "asrep"}
    with pytest.raises(ConfigError, match="iterations"):
        RunConfig(iterations=2, generation=gen)
    RunConfig(iterations=2, generation={"method": "asrep+rsir"})
    with pytest.raises(ConfigError, match="generation.asrep_length"):
        RunConfig(data={"max_len": 10}, generation={"method": "asrep"})
    for key in ("asrep_threshold", "asrep_length", "asrep_max_items", "asrep_top_k"):
        with pytest.raises(ConfigError, match=f"generation.{key}"):
            GenerationConfig(**{key: 0})
    with pytest.raises(ValueError, match="reverse model"):
        generate_for_next_iteration(None, tiny, GenerationConfig(method="asrep"), seed=0, iteration=0)
    with pytest.raises(ValueError, match="only generates D'_1"):
        generate_for_next_iteration(None, tiny, GenerationConfig(method="asrep"), 0, 1, reverse=untrained)


def test_which_forward_models_start_from_the_reverse_model():
    def starts(method, k, finetune=False, asrep_finetune=True):
        cfg = RunConfig(
            iterations=3 if method != "asrep" else 1,
            finetune=finetune,
            generation={"method": method, "asrep_finetune": asrep_finetune},
        )
        return reverse.starts_forward_model(cfg, k)

    assert [starts("asrep", k) for k in (0, 1)] == [False, True]
    assert [starts("asrep+rsir", k) for k in (0, 1, 2, 3)] == [False, True, True, True]
    # RSIR-FT carries f_1 (itself fine-tuned from the reverse model) forward instead
    assert [starts("asrep+rsir", k, finetune=True) for k in (1, 2)] == [True, False]
    assert not starts("asrep", 1, asrep_finetune=False) and not starts("rsir", 1)


# ---------------------------------------------------------------------------- end to end
class _Crash(Exception):
    pass


def _records(run: Path) -> list[dict]:
    return json.loads((run / "results.json").read_text())


def test_self_improve_asrep_end_to_end_and_resume_without_retraining(tmp_path, monkeypatch):
    from rsir_pl.loop import iteration

    starts: dict[int, dict[str, torch.Tensor]] = {}
    real_fit = iteration.fit

    def recording_fit(model, dm, *a, **kw):  # the weights each forward fit starts from
        starts[len(starts)] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return real_fit(model, dm, *a, **kw)

    monkeypatch.setattr(iteration, "fit", recording_fit)
    run = tmp_path / "run"
    args = ["--log_level", "WARNING", "self-improve", "--run_dir", str(run), *TINY_ARGS]
    assert main([*args, "--generation.method", "asrep", "--iterations", "1"]) == 0
    rd = RunDir(run, writer=False)
    assert rd.verify() == [] and rd.has(reverse.MODEL_FILE) and rd.has(reverse.INFO_FILE)
    gen = rd.read_json("iter_1/generation.json")
    assert gen["method"] == "asrep" and gen["kept_sequences"] > 0 and gen["reverse_model"]["loaded"] is False
    recs = _records(run)
    assert recs[1]["train_data"]["replaced_sequences"] == gen["kept_sequences"]
    assert "ci_low" in recs[1]["vs_base"]["ndcg@10"]
    # iteration 1 fine-tunes the reverse model (ASReP's left-to-right fine-tuning)
    rev_state = rd.read_torch(reverse.MODEL_FILE)["state_dict"]
    assert all(torch.equal(starts[1][k], v) for k, v in rev_state.items())
    # the exported D_1 is what f_1 trained on: the replaced short sequences are left out
    store, _, names = build_run_store(run, 1)
    assert len(store) == recs[1]["train_data"]["sequences"] - gen["kept_sequences"]
    assert sum(n.startswith("syn1_") for n in names) == gen["kept_sequences"]

    # a run that dies right after saving D'_1 resumes to the same result without a new reverse fit
    def crash(name):
        if name == "iter0:generated":
            raise _Crash(name)

    run2 = tmp_path / "run2"
    monkeypatch.setattr(faults, "point", crash)
    cfg = RunConfig(
        run_dir=str(run2),
        iterations=1,
        data={"dataset": "synthetic-tiny", "max_len": 20, "batch_size": 64},
        model={"hidden": 16, "layers": 1, "heads": 1},
        trainer={"max_epochs": 2, "accelerator": "cpu", "progress_bar": False},
        generation={"method": "asrep", "progress": False, "max_len": 20},
        logger={"kind": "none"},
    )
    from rsir_pl.loop.runner import self_improve

    with pytest.raises(_Crash):
        self_improve(cfg)
    monkeypatch.setattr(faults, "point", lambda name: None)

    def no_retraining(*a, **kw):
        raise AssertionError("the reverse model was trained again")

    monkeypatch.setattr(reverse, "train_reverse_model", no_retraining)
    args2 = ["--log_level", "WARNING", "self-improve", "--run_dir", str(run2), *TINY_ARGS]
    assert main([*args2, "--generation.method", "asrep", "--iterations", "1"]) == 0
    assert _records(run2)[1]["test"] == recs[1]["test"]


def _asrep_config(run: Path, method: str, iterations: int, base_from: Path | None = None, **gen) -> RunConfig:
    return RunConfig(
        run_dir=str(run),
        iterations=iterations,
        base_from=str(base_from) if base_from else None,
        data={"dataset": "synthetic-tiny", "max_len": 20, "batch_size": 64},
        model={"hidden": 16, "layers": 1, "heads": 1},
        trainer={"max_epochs": 2, "accelerator": "cpu", "progress_bar": False},
        generation={"method": method, "progress": False, "max_len": 20, **gen},
        logger={"kind": "none"},
    )


def test_asrep_rsir_copies_asreps_first_iteration_and_gives_what_it_would_make(tmp_path, monkeypatch):
    """asrep+rsir on an asrep run of equal settings copies ASReP's D'_1 and f_1 (no reverse fit,
    one forward fit: f_2) and ends where a run that makes them itself ends; a copy cut short is
    completed on the next start; other settings are not reused."""
    from rsir_pl.loop import iteration
    from rsir_pl.loop.runner import self_improve

    self_improve(_asrep_config(tmp_path / "asrep", "asrep", 1))
    self_improve(_asrep_config(tmp_path / "base", "rsir", 0))
    made = _asrep_config(tmp_path / "made", "asrep+rsir", 2, base_from=tmp_path / "base")
    self_improve(made)

    fits: list[int] = []
    real_fit = iteration.fit
    monkeypatch.setattr(iteration, "fit", lambda *a, **kw: fits.append(1) or real_fit(*a, **kw))
    monkeypatch.setattr(reverse, "train_reverse_model", lambda *a, **kw: pytest.fail("reverse model trained again"))
    copied = _asrep_config(tmp_path / "copied", "asrep+rsir", 2, base_from=tmp_path / "asrep")
    real_write = RunDir.write_bytes

    def cut_short(self, rel, data):
        if rel == "iter_1/fit.json":
            raise _Crash(rel)
        real_write(self, rel, data)

    Path(copied.run_dir).mkdir()  # there before the start, so a failed start leaves it as a kill would
    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_bytes", cut_short)
        with pytest.raises(_Crash):
            self_improve(copied)
    assert RunDir(copied.run_dir, writer=False).has("iter_1/synthetic.npz")
    assert not RunDir(copied.run_dir, writer=False).has("iter_1/model.pt")
    self_improve(copied)
    assert len(fits) == 1  # f_2 only
    a, b = RunDir(made.run_dir, writer=False), RunDir(copied.run_dir, writer=False)
    assert b.verify() == []
    assert a.read_bytes("iter_2/synthetic.npz") == b.read_bytes("iter_2/synthetic.npz")
    for k in range(3):
        ranks = a.read_arrays(f"iter_{k}/test_ranks.npz")["ranks"]
        assert np.array_equal(ranks, b.read_arrays(f"iter_{k}/test_ranks.npz")["ranks"])

    fits.clear()
    other = _asrep_config(tmp_path / "other", "asrep+rsir", 1, base_from=tmp_path / "asrep", tau=5)
    self_improve(other)
    assert len(fits) == 1  # f_1 trained again: tau differs, so nothing past the base is copied
    assert not RunDir(other.run_dir, writer=False).has("iter_2/synthetic.npz")


@pytest.mark.slow
def test_study_asrep_end_to_end(tmp_path, capsys):
    out = tmp_path / "study"
    assert (
        main(["--log_level", "WARNING", "study", "asrep", "--run_dir", str(out), "--iterations", "1", *TINY_ARGS]) == 0
    )
    path = out / "study-asrep"
    table = (path / "study.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| arm")]
    assert [r.split("|")[1].strip() for r in rows] == ["base", "ASReP", "RSIR", "ASReP+RSIR"]
    assert all(r.count("[") == 2 for r in rows[1:])  # a paired CI per metric against the base
    numbers = json.loads((path / "study.json").read_text())
    assert [r["iterations"] for r in numbers["rows"]] == [0, 1, 1, 2]
    assert [(p["new"], p["reference"]) for p in numbers["pairs"]] == [
        ("RSIR", "ASReP"),
        ("ASReP+RSIR", "ASReP"),
        ("ASReP+RSIR", "RSIR"),
    ]
    assert "- RSIR against ASReP: NDCG@10 " in table
    # ASReP+RSIR reused the ASReP arm's reverse model, so its iteration 1 is the ASReP arm's
    runs = numbers["runs"]
    assert runs["ASReP+RSIR"][1]["test"] == runs["ASReP"][1]["test"]
    combined = RunDir(path / "asrep_rsir", writer=False)
    assert combined.read_bytes(reverse.MODEL_FILE) == RunDir(path / "asrep", writer=False).read_bytes(
        reverse.MODEL_FILE
    )
    assert (path / "study.png").read_bytes()[:4] == b"\x89PNG"


def test_readme_documents_asrep_with_an_example():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "rsir self-improve --config configs/sasrec/toys.yaml --generation.method asrep" in readme
    assert "rsir study asrep" in readme and "benchmarks/asrep_table.py" in readme
    for name in ("asrep.yaml", "asrep-rsir.yaml"):
        cfg = Path(__file__).resolve().parents[1] / "configs" / "generation" / name
        data = yaml.safe_load(cfg.read_text())
        defaults = GenerationConfig()
        for key in ("asrep_threshold", "asrep_length", "asrep_max_items", "asrep_top_k", "asrep_finetune"):
            assert data["generation"][key] == getattr(defaults, key), (name, key)

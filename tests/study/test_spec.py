"""Study files: expansion, draws, run ids and clear errors (no training)."""

from __future__ import annotations

import re

import pytest

from slowvae.errors import SlowVAEError
from slowvae.study import parse_study
from slowvae.study.spec import draw_setting

TINY = """
name = "tiny"
steps = 30
seeds = [1, 2]
datasets = ["dsprites-procedural"]

[evaluate]
metrics = ["mcc", "mig"]
preset = "fast"

[[models]]
name = "slowvae"

[[models]]
name = "beta-vae"
"""

SEARCH = """
name = "search"
steps = 100
seeds = 2
search_seed = 3
datasets = ["dsprites-procedural", { name = "dsprites-procedural", transitions = "uniform", k = 1 }]
batch_pairs = 16

[[models]]
name = "slowvae"
hyper = { beta = 1 }
search = { gamma = "U(1, 16)", rate = "logU(1, 10)" }
samples = 3

[[models]]
name = "beta-vae"
grid = { beta = [1, 4, 8] }
seeds = [7]
"""


def test_the_smallest_study_expands_to_its_runs():
    study = parse_study(TINY)
    assert study.name == "tiny"
    assert [(r.model, r.seed) for r in study.runs] == [("slowvae", 1), ("slowvae", 2), ("beta-vae", 1), ("beta-vae", 2)]
    run = study.runs[0]
    assert run.config["steps"] == 30 and run.config["dataset"] == "dsprites-procedural"
    assert run.config["transitions"] == "laplace" and run.config["data_rate"] == 1.0
    assert run.config["hyper"] == {"beta": 1.0, "gamma": 10.0, "rate": 6.0}  # the model's defaults, resolved
    assert run.config["precision"] == "auto"  # resolved on the machine that trains
    assert run.evaluate == {
        "metrics": ["mcc", "mig"],
        "preset": "fast",
        "fast": False,
        "samples": 10_000,
        "at_steps": [],
        "settings": {},
    }
    assert re.fullmatch(r"slowvae-dsprites-procedural-seed1-[0-9a-f]{6}", run.id)


def test_run_ids_are_stable_and_ignore_comments_and_other_models():
    ids = [r.id for r in parse_study(TINY).runs]
    # the hash is of the resolved configuration: it must not drift between versions or machines
    assert ids[0] == "slowvae-dsprites-procedural-seed1-3cd32f"
    assert [r.id for r in parse_study("# a comment\n" + TINY).runs] == ids
    extra = TINY + '\n[[models]]\nname = "factor-vae"\n'
    assert [r.id for r in parse_study(extra).runs][:4] == ids
    assert parse_study(TINY.replace("seeds = [1, 2]", "seeds = [1, 2]\nlr = 2e-4")).runs[0].id != ids[0]


def test_search_grid_seeds_and_datasets_expand_as_a_product():
    study = parse_study(SEARCH)
    slow = [r for r in study.runs if r.model == "slowvae"]
    beta = [r for r in study.runs if r.model == "beta-vae"]
    assert len(slow) == 3 * 2 * 2 and len(beta) == 3 * 2 * 1  # settings x datasets x seeds
    assert {r.seed for r in slow} == {1, 2} and {r.seed for r in beta} == {7}
    assert {r.dataset for r in study.runs} == {"dsprites-procedural", "dsprites-procedural-loc-k1"}
    loc = next(r for r in study.runs if r.dataset.endswith("loc-k1"))
    assert loc.config["transitions"] == "uniform" and loc.config["k"] == 1 and loc.config["data_rate"] is None
    assert sorted({r.setting["beta"] for r in beta}) == [1.0, 4.0, 8.0]
    settings = {tuple(sorted(r.setting.items())) for r in slow}
    assert len(settings) == 3
    for s in map(dict, settings):
        assert s["beta"] == 1.0 and 1 <= s["gamma"] <= 16 and 1 <= s["rate"] <= 10
    assert all(r.config["batch_pairs"] == 16 for r in study.runs)


def test_draws_are_keyed_by_search_seed_model_and_index():
    search = {"gamma": ("U", [1.0, 16.0]), "rate": ("U", [1.0, 10.0])}
    first = draw_setting(search, 0, "slowvae", 0)
    assert draw_setting(search, 0, "slowvae", 0) == first
    assert draw_setting(search, 0, "slowvae", 1) != first
    assert draw_setting(search, 1, "slowvae", 0) != first
    assert draw_setting(search, 0, "other", 0) != first
    # adding a model before slowvae leaves slowvae's draws alone
    text = SEARCH.replace(
        '[[models]]\nname = "slowvae"',
        '[[models]]\nname = "dip-vae-i"\nsearch = { lambda_od = "U(1, 10)" }\nsamples = 2\n\n[[models]]\nname = "slowvae"',
        1,
    )
    before = [r.setting for r in parse_study(SEARCH).runs if r.model == "slowvae"]
    after = [r.setting for r in parse_study(text).runs if r.model == "slowvae"]
    assert before == after
    choice = draw_setting({"beta": ("choice", [2.0, 4.0])}, 0, "m", 5)
    assert choice["beta"] in (2.0, 4.0)
    logu = [draw_setting({"x": ("logU", [1.0, 1000.0])}, 0, "m", i)["x"] for i in range(200)]
    assert min(logu) >= 1 and max(logu) <= 1000 and sum(v < 31.6 for v in logu) > 60  # half the mass below sqrt(1000)


def test_a_model_entry_sets_training_fields_for_its_runs_only():
    text = TINY + '\n[[models]]\nname = "slowvae"\nlabel = "warmup"\ntrain = { lr = 1e-3, warmup_steps = 50 }\n'
    runs = parse_study(text).runs
    warm = [r for r in runs if r.model == "warmup"]
    assert [(r.config["lr"], r.config["warmup_steps"]) for r in warm] == [(1e-3, 50)] * 2
    assert all((r.config["lr"], r.config["warmup_steps"]) == (1e-4, 0) for r in runs if r.model != "warmup")
    plain = {r.seed: r.id for r in runs if r.model == "slowvae"}
    assert all(r.id.split("-")[-1] != plain[r.seed].split("-")[-1] for r in warm)  # a different network: a new hash


def test_at_steps_beyond_a_models_steps_are_skipped_for_that_model():
    text = TINY.replace('preset = "fast"', 'preset = "fast"\nat_steps = [10, 30, 40]')
    text = text.replace('[[models]]\nname = "slowvae"', '[[models]]\nname = "slowvae"\nsteps = 50')
    runs = parse_study(text).runs
    assert {r.model: r.evaluate["at_steps"] for r in runs} == {"slowvae": [10, 30, 40], "beta-vae": [10]}
    assert {r.model: r.config["steps"] for r in runs} == {"slowvae": 50, "beta-vae": 30}


def test_evaluate_settings_resolve():
    text = TINY.replace('preset = "fast"', "at_steps = [0, 10, 20]\n\n[evaluate.settings.dci]\nexact = true")
    text = text.replace('metrics = ["mcc", "mig"]', 'metrics = ["dci", "mcc"]')
    run = parse_study(text).runs[0]
    assert run.evaluate["preset"] == "fast"  # metrics beyond MCC: fast unless a preset is given
    assert run.evaluate["settings"] == {"dci": {"backend": "sklearn"}}
    assert run.evaluate["metrics"] == ["mcc", "dci"] and run.evaluate["at_steps"] == [0, 10, 20]
    # scored segment by segment as training passes each step: no step checkpoints kept
    assert run.config["keep_checkpoints"] is False and run.config["checkpoint_every"] == 30
    only_mcc = parse_study(TINY.replace('metrics = ["mcc", "mig"]\npreset = "fast"', "")).runs[0]
    assert only_mcc.evaluate["metrics"] == ["mcc"] and only_mcc.evaluate["preset"] is None


@pytest.mark.parametrize(
    "change, message",
    [
        (('name = "tiny"', 'name = "tiny"\nbogus = 1'), "unknown key(s) bogus"),
        (('name = "beta-vae"', 'name = "nope"'), "unknown model"),
        (
            (
                '[[models]]\nname = "slowvae"',
                '[[models]]\nname = "slowvae"\nsearch = { gamma = "N(0, 1)" }\nsamples = 2',
            ),
            "U(a, b)",
        ),
        (
            (
                '[[models]]\nname = "slowvae"',
                '[[models]]\nname = "slowvae"\nsearch = { gamma = "U(3, 1)" }\nsamples = 2',
            ),
            "a < b",
        ),
        (('[[models]]\nname = "slowvae"', '[[models]]\nname = "slowvae"\nhyper = { gama = 3 }'), "gama"),
        (('metrics = ["mcc", "mig"]', 'metrics = ["mcc", "migg"]'), "unknown metric(s) migg"),
        (("seeds = [1, 2]", "seeds = [1, 1]"), "twice"),
        (("seeds = [1, 2]", "seeds = [1, 2]\nseed = 3"), "cannot be study-wide"),
        (("seeds = [1, 2]", "seed = 2"), "did you mean `seeds`?"),
        (('[[models]]\nname = "beta-vae"', '[[model]]\nname = "beta-vae"'), "did you mean `[[models]]`?"),
        (("steps = 30", "step = 30"), "unknown key(s) step; a study has"),
        (("steps = 30", "step = 30"), "did you mean `steps`?"),
        (('datasets = ["dsprites-procedural"]', 'datasets = ["dsprites-procedurl"]'), "unknown dataset 'dsprites-proc"),
        (
            ('datasets = ["dsprites-procedural"]', 'datasets = [{ name = "frames:a.mp4", options = { max_dt = 0 } }]'),
            "dataset 'frames:a.mp4': max_dt (--max-dt) must be a whole number of frames, at least 1; got 0",
        ),
        (
            ('datasets = ["dsprites-procedural"]', 'datasets = [{ name = "frames:a.mp4", options = { binary = 1 } }]'),
            "binary must be true or false, got 1",
        ),
        (("steps = 30", "steps = 0"), "steps must be a positive integer"),
        (('[[models]]\nname = "beta-vae"', '[[models]]\nname = "slowvae"'), "are the same run"),
        (
            ('[[models]]\nname = "beta-vae"', '[[models]]\nname = "slowvae"\nhyper = { gamma = 3 }'),
            "labelled 'slowvae'",
        ),
        (('name = "tiny"', 'name = "tiny"\n[x'), "not valid TOML"),
        (('name = "beta-vae"', 'name = "beta-vae"\ntrain = { seed = 3 }'), "TrainConfig fields other than"),
        (('name = "beta-vae"', 'name = "beta-vae"\ntrain = { lrr = 3 }'), "lrr"),
    ],
)
def test_bad_study_files_say_what_is_wrong(change, message):
    old, new = change
    assert old in TINY
    with pytest.raises(SlowVAEError) as err:
        parse_study(TINY.replace(old, new, 1))
    assert message in str(err.value)


def test_a_dataset_entry_sets_its_options_and_label():
    text = TINY.replace(
        'datasets = ["dsprites-procedural"]',
        'datasets = [{ name = "frames:clips/a.mp4", label = "clip-dt2", options = { max_dt = 2, binary = true } },\n'
        '            { name = "frames:clips/a.mp4", label = "clip" }]',
    )
    runs = parse_study(text).runs
    by_label = {r.dataset: r for r in runs if r.seed == 1 and r.model == "slowvae"}
    assert set(by_label) == {"clip-dt2", "clip"}
    assert by_label["clip-dt2"].config["dataset_options"] == {"max_dt": 2, "binary": True}
    assert by_label["clip"].config["dataset_options"] == {}
    assert by_label["clip-dt2"].id.split("-")[-1] != by_label["clip"].id.split("-")[-1]  # options define the network
    with pytest.raises(SlowVAEError, match="unknown option.*jitter.*accepts max_dt"):
        parse_study(text.replace("max_dt = 2", "jitter = 2"))
    with pytest.raises(SlowVAEError, match="'dsprites-procedural': unknown option.*accepts none"):
        parse_study(
            TINY.replace(
                'datasets = ["dsprites-procedural"]',
                'datasets = [{ name = "dsprites-procedural", options = { max_dt = 2 } }]',
            )
        )
    with pytest.raises(SlowVAEError, match="options must be a table"):
        parse_study(text.replace("options = { max_dt = 2, binary = true }", "options = 2"))
    with pytest.raises(SlowVAEError, match="listed twice.*different labels"):
        parse_study(text.replace('label = "clip" ', 'label = "clip-dt2" '))

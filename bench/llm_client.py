"""The client of a bot's OpenAI-compatible endpoint: how core reads a streamed answer.

    python -m bench.llm_client [--tokens N] [--streams N] [--rounds N]      (make bench-llm-client)

`models.llm.OpenAICompatibleLLM` asks the `openai` package's AsyncOpenAI for the raw event stream
and reads each line with orjson. The baseline is the same client's default path, a pydantic
model per chunk. Both stream the same answer from the stand-in endpoint (cortex/devtools), at 1
and at 8 concurrent streams, in rounds that rotate the order. CPU is this process's (client and
stand-in together, the same for both), per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.load import write_result
from cortex.devtools.openai_server import OpenAIServer
from cortex.models.llm import GenerationParams, OpenAICompatibleLLM

MESSAGES = [{"role": "user", "content": "When do you open?"}]


class ParsedChunks(OpenAICompatibleLLM):
    """The baseline: the same AsyncOpenAI client, iterating its parsed ChatCompletionChunk models."""

    async def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
        chunks = await self._client.chat.completions.create(
            model=params.model or self.model,
            messages=messages,
            stream=True,
            max_tokens=params.max_tokens,  # type: ignore[arg-type]
        )
        async with chunks:
            async for chunk in chunks:
                if chunk.choices and (piece := chunk.choices[0].delta.content):
                    yield piece


async def _one(llm: OpenAICompatibleLLM) -> tuple[float, int]:
    started = time.perf_counter()
    first = None
    pieces = 0
    async for _ in llm.stream(MESSAGES, GenerationParams(backend="openai")):
        first = first or time.perf_counter() - started
        pieces += 1
    return (first or 0.0) * 1000, pieces


async def _round(llm: OpenAICompatibleLLM, streams: int, concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    results: list[tuple[float, int]] = []

    async def go() -> None:
        async with gate:
            results.append(await _one(llm))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(go() for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert all(pieces == results[0][1] for _, pieces in results), "every stream must carry the whole answer"
    return {
        "ttft_ms": statistics.median(first for first, _ in results),
        "cpu_ms_per_stream": cpu * 1000 / streams,
        "streams_per_s": streams / wall,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


async def _main(tokens: int, streams: int, rounds: int) -> dict[str, Any]:
    server = OpenAIServer(answer=" ".join(f"word{i}" for i in range(tokens))).start()
    try:
        clients = {
            "raw_lines": OpenAICompatibleLLM(base_url=server.url, api_key="k", model="stand-in"),
            "parsed_chunks": ParsedChunks(base_url=server.url, api_key="k", model="stand-in"),
        }
        for llm in clients.values():  # warm: connections, imports, the stand-in's threads
            await _round(llm, 20, 4)
        fields: dict[str, Any] = {"tokens_per_answer": tokens, "streams_per_round": streams, "rounds": rounds}
        spread: dict[str, Any] = {}
        for concurrency in (1, 8):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
            for index in range(rounds):
                order = list(clients.items())
                for name, llm in order[index % 2 :] + order[: index % 2]:
                    runs[name].append(await _round(llm, streams, concurrency))
            level = f"c{concurrency}"
            fields[level] = {}
            for name, rows in runs.items():
                fields[level][name] = {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]}
                spread[f"{level}.{name}.cpu_ms_per_stream"] = _spread([r["cpu_ms_per_stream"] for r in rows])
                spread[f"{level}.{name}.ttft_ms"] = _spread([r["ttft_ms"] for r in rows])
            raw, parsed = fields[level]["raw_lines"], fields[level]["parsed_chunks"]
            fields[level]["cpu_ratio"] = round(raw["cpu_ms_per_stream"] / parsed["cpu_ms_per_stream"], 3)
        fields["spread"] = spread
        for llm in clients.values():
            await llm.aclose()
        return fields
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_client", description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200, help="words in the stand-in's answer, one per chunk")
    parser.add_argument("--streams", type=int, default=100, help="answers streamed per round and client")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fields = asyncio.run(_main(args.tokens, args.streams, args.rounds))
    for level in ("c1", "c8"):
        for name in ("raw_lines", "parsed_chunks"):
            row = fields[level][name]
            print(
                f"{level} {name:14} ttft p50 {row['ttft_ms']:6.2f} ms  cpu {row['cpu_ms_per_stream']:6.2f} ms/stream"
                f"  {row['streams_per_s']:6.1f} streams/s"
            )
        print(f"{level} cpu ratio (raw lines / parsed chunks): {fields[level]['cpu_ratio']}")
    path = write_result("llm_client", fields, command="python -m bench.llm_client " + " ".join(sys.argv[1:]))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

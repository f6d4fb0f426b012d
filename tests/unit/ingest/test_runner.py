"""Every Ray job reports the same way through the shared runner: running, progress (throttled), then
succeeded with counts or failed with a code and a message the owner can act on, never a traceback."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from ingest import runner
from ingest.runner import JobFailed, Reporter


class Recorder(Reporter):
    """A reporter that keeps what it was told, in order."""

    internal_error = "Mining stopped on an internal error; start a new run."

    def __init__(self, *, runnable: bool = True) -> None:
        super().__init__()
        self.runnable = runnable
        self.events: list[tuple[str, Any]] = []

    async def start(self) -> bool:
        self.events.append(("running", None))
        return self.runnable

    async def write_progress(self, values: dict[str, Any]) -> None:
        self.events.append(("progress", values))

    async def record_success(self, counts: dict[str, Any], message: str | None) -> None:
        self.events.append(("succeeded", counts))

    async def record_failure(self, code: str, message: str, detail: str | None) -> None:
        self.events.append(("failed", (code, message, detail)))


class Context:
    def __init__(self, reporter: Recorder) -> None:
        self.reporter = reporter
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def _run(main: Any, reporter: Recorder) -> tuple[int, Context]:
    context = Context(reporter)

    async def open_context(args: argparse.Namespace, job_id: str | None) -> Context:
        return context

    status = await runner.run(main, argparse.Namespace(), "job-1", open_context=open_context)
    return status, context


async def test_a_job_that_returns_counts_is_reported_running_then_succeeded_with_them() -> None:
    async def main(context: Context, args: argparse.Namespace) -> dict[str, Any]:
        await context.reporter.progress(force=True, stage="reading")
        return {"candidates": 2, "retired": 1}

    reporter = Recorder()
    status, context = await _run(main, reporter)
    assert status == 0 and context.closed
    assert reporter.events == [
        ("running", None),
        ("progress", {"stage": "reading"}),
        ("succeeded", {"candidates": 2, "retired": 1}),
    ]


async def test_a_failure_the_owner_can_act_on_is_reported_with_its_code_and_message() -> None:
    async def main(context: Context, args: argparse.Namespace) -> dict[str, Any]:
        raise JobFailed("bad_arguments", "--days must be at least 1.")

    reporter = Recorder()
    status, context = await _run(main, reporter)
    assert status == 1 and context.closed
    message = "--days must be at least 1."
    assert reporter.events[-1] == ("failed", ("bad_arguments", message, message))


async def test_a_crash_is_reported_as_internal_with_the_reporters_text_and_the_error_kept_for_operators() -> None:
    async def main(context: Context, args: argparse.Namespace) -> dict[str, Any]:
        raise KeyError("secret-looking internals")

    reporter = Recorder()
    status, _ = await _run(main, reporter)
    code, message, detail = reporter.events[-1][1]
    assert status == 1 and reporter.events[-1][0] == "failed"
    assert (code, message) == ("internal", Recorder.internal_error)
    assert "KeyError" in (detail or "") and "KeyError" not in message


async def test_a_job_with_nothing_to_run_does_nothing_and_exits_cleanly() -> None:
    ran = False

    async def main(context: Context, args: argparse.Namespace) -> dict[str, Any]:
        nonlocal ran
        ran = True
        return {}

    reporter = Recorder(runnable=False)
    status, context = await _run(main, reporter)
    assert (status, ran, context.closed) == (0, False, True)
    assert reporter.events == [("running", None)]


async def test_a_job_that_reported_its_own_ending_is_not_reported_again() -> None:
    async def main(context: Context, args: argparse.Namespace) -> None:
        await context.reporter.succeeded({"document_count": 3}, "3 FAQs imported")

    reporter = Recorder()
    await _run(main, reporter)
    assert [event for event, _ in reporter.events] == ["running", "succeeded"]


async def test_progress_is_written_at_most_once_a_second_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    reporter = Recorder()
    await reporter.progress(done=1)
    await reporter.progress(done=2)  # same instant: dropped
    clock[0] += 0.5
    await reporter.progress(force=True, done=3)
    clock[0] += 0.5
    await reporter.progress(done=4)  # 0.5 s after the forced write: dropped
    clock[0] += 0.6
    await reporter.progress(done=5)
    assert [values["done"] for _, values in reporter.events] == [1, 3, 5]


def test_run_job_parses_the_jobs_arguments_and_exits_with_its_status() -> None:
    seen: dict[str, Any] = {}

    async def main(context: Context, args: argparse.Namespace) -> dict[str, Any]:
        seen.update(workspace=args.workspace, job_id=args.job_id, days=args.days)
        return {}

    def add_days(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--days", type=int, default=30)

    main.add_arguments = add_days  # type: ignore[attr-defined]

    async def open_context(args: argparse.Namespace, job_id: str | None) -> Context:
        seen["opened_with"] = job_id
        return Context(Recorder())

    with pytest.raises(SystemExit) as exit_:
        runner.run_job(
            main,
            "test",
            add_arguments=runner.workspace_arguments,
            open_context=open_context,
            argv=["--workspace", "7b4f3a52-08d1-4c59-9a4e-1f0a0b2c3d4e", "--job-id", "mining-x", "--days", "7"],
        )
    assert exit_.value.code == 0
    assert str(seen["workspace"]) == "7b4f3a52-08d1-4c59-9a4e-1f0a0b2c3d4e"
    assert (seen["job_id"], seen["opened_with"], seen["days"]) == ("mining-x", "mining-x", 7)

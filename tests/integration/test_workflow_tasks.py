"""Durable tasks on the real stack: a reminder comes due and lands in the mailbox; an owner's webhook
is signed so its receiver can verify it; a webhook that keeps failing is retried with a growing
backoff and then shows as failed with its error, until the owner retries it; a task left `running`
by a replica that died runs again; the tasks API lists, cancels and retries, per workspace and role."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import threading
import time as clock
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import orjson

from cortex.settings import Settings
from cortex.workflows.notify.tasks import verify_webhook
from tests.stack_fixtures import RunningStack

from .accounts import Account, member_of, register
from .chatting import eventually, make_bot, visitor_of
from .db import service_conn
from .mailbox import mail_to, text_of

S = "/api/langgraph/schedule"
T = "/api/langgraph/tasks"
BUSINESS = ZoneInfo("Europe/Berlin")
EVERY_DAY = {str(day): [["08:00", "18:00"]] for day in range(1, 8)}


@dataclass
class Receiver:
    """An owner's webhook endpoint: records each call, answers `status`."""

    url: str = ""
    status: int = 200
    calls: list[dict] = field(default_factory=list)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.calls.append({"headers": dict(self.headers.items()), "body": body, "at": clock.time()})
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/booking"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


async def _salon(http: httpx.AsyncClient, *, webhook_url: str | None = None, **settings: object) -> dict:
    owner = await register(http, workspace="Task salon")
    bot = await make_bot(http, owner, name="Task salon")
    notify: dict = {"emails": [f"owner-{uuid.uuid4().hex[:8]}@example.com"]}
    if webhook_url:
        notify["webhook_url"] = webhook_url
    put = await http.put(
        f"{S}/settings/{bot['id']}",
        json={"time_zone": "Europe/Berlin", "hours": EVERY_DAY, "horizon_days": 30, "notify": notify, **settings},
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{S}/services", json={"bot_id": bot["id"], "name": "Massage", "duration_min": 60}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    return {"owner": owner, "bot": bot, "service": service.json(), "settings": put.json(), "notify": notify}


async def _book(http: httpx.AsyncClient, salon: dict, *, days: int, hour: int) -> tuple[dict, str]:
    email = f"guest-{uuid.uuid4().hex[:8]}@example.com"
    start = datetime.combine(datetime.now(BUSINESS).date() + timedelta(days=days), time(hour), tzinfo=BUSINESS)
    booked = await http.post(
        f"{S}/bookings",
        json={
            "bot_id": salon["bot"]["id"],
            "service_id": salon["service"]["id"],
            "start": start.isoformat(),
            "name": "Mirela Kovač",
            "email": email,
            "language": "de",
        },
        headers=salon["owner"].headers,
    )
    assert booked.status_code == 201, booked.text
    return booked.json(), email


async def _tasks(http: httpx.AsyncClient, owner: Account, **params: str) -> list[dict]:
    listed = await http.get(T, params=params, headers=owner.headers)
    assert listed.status_code == 200, listed.text
    return listed.json()


async def _come_due(settings: Settings, task_id: str) -> None:
    """The clock reaching the task: its due time set to now, and the loop woken as a commit wakes it."""
    async with service_conn(settings, "workflows") as conn:
        await conn.execute("UPDATE tasks SET due_at = now() WHERE id = $1", uuid.UUID(task_id))
        await conn.execute("SELECT pg_notify('cortex_tasks_workflows', '')")


async def test_a_reminder_comes_due_and_mails_the_visitor_in_their_language(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings
) -> None:
    salon = await _salon(http, reminder_hours=[48, 24])
    appointment, email = await _book(http, salon, days=5, hour=10)
    reminders = await _tasks(http, salon["owner"], appointment_id=appointment["id"], kind="reminder")
    start = datetime.fromisoformat(appointment["starts_at"])
    assert sorted(datetime.fromisoformat(task["due_at"]) for task in reminders) == [
        start - timedelta(hours=48),
        start - timedelta(hours=24),
    ]
    assert all(task["status"] == "queued" for task in reminders)
    [confirmation] = await mail_to(running_stack.home, email)
    assert confirmation["Subject"].strip().startswith("Bestätigt: Massage")

    first = min(reminders, key=lambda task: task["due_at"])
    await _come_due(settings, first["id"])
    _, reminder = await mail_to(running_stack.home, email, count=2)
    assert reminder["Subject"].strip().startswith("Erinnerung: Massage")
    assert "wir erinnern Sie an Ihren Termin" in text_of(reminder)
    assert not [part for part in reminder.walk() if part.get_content_type() == "text/calendar"]

    async def succeeded() -> dict | None:
        task = (await http.get(f"{T}/{first['id']}", headers=salon["owner"].headers)).json()
        return task if task["status"] == "succeeded" else None

    done = await eventually(succeeded, what="the reminder task succeeded")
    assert done["attempts"] == 1 and done["finished_at"]

    # Cancelled, the appointment's other reminder is cancelled too, and sends nothing.
    cancel = await http.post(f"{S}/bookings/{appointment['id']}/cancel", headers=salon["owner"].headers)
    assert cancel.status_code == 200, cancel.text
    [other] = [task for task in reminders if task["id"] != first["id"]]
    after = (await http.get(f"{T}/{other['id']}", headers=salon["owner"].headers)).json()
    assert after["status"] == "cancelled" and "cancelled" in after["last_error"]


async def test_a_webhook_is_signed_so_the_receiver_can_verify_it(http: httpx.AsyncClient) -> None:
    with webhook_receiver() as receiver:
        salon = await _salon(http, webhook_url=receiver.url)
        secret = salon["settings"]["webhook_secret"]
        assert secret, "the PUT that set the webhook shows its secret once"
        appointment, _ = await _book(http, salon, days=6, hour=15)

        async def called() -> list[dict]:
            return receiver.calls

        await eventually(called, what="the webhook is called")
        [call] = receiver.calls
        headers = {name.lower(): value for name, value in call["headers"].items()}
        assert verify_webhook(
            secret, body=call["body"], timestamp=headers["x-cortex-timestamp"], signature=headers["x-cortex-signature"]
        )
        # Verified as a receiver in any language would: HMAC-SHA256 over "<timestamp>.<body>".
        expected = hmac.new(
            secret.encode(), headers["x-cortex-timestamp"].encode() + b"." + call["body"], hashlib.sha256
        ).hexdigest()
        assert headers["x-cortex-signature"] == f"sha256={expected}"
        assert abs(int(headers["x-cortex-timestamp"]) - clock.time()) < 60
        assert not verify_webhook(
            "another-secret",
            body=call["body"],
            timestamp=headers["x-cortex-timestamp"],
            signature=headers["x-cortex-signature"],
        )
        assert not verify_webhook(
            secret,
            body=call["body"] + b" ",
            timestamp=headers["x-cortex-timestamp"],
            signature=headers["x-cortex-signature"],
        ), "an altered body fails"
        stale = str(int(headers["x-cortex-timestamp"]) - 3600)
        assert not verify_webhook(secret, body=call["body"], timestamp=stale, signature=headers["x-cortex-signature"])
        body = orjson.loads(call["body"])
        assert body["event"] == "appointment.booked" and headers["x-cortex-event"] == "booked"
        assert body["appointment"]["id"] == appointment["id"] and body["appointment"]["service"] == "Massage"
        assert body["delivery_id"] == headers["x-cortex-delivery"]


async def test_a_failing_webhook_backs_off_then_fails_visibly_until_retried(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    with webhook_receiver() as receiver:
        receiver.status = 503
        salon = await _salon(http, webhook_url=receiver.url)
        owner = salon["owner"]
        appointment, _ = await _book(http, salon, days=7, hour=11)

        async def webhook_task() -> dict | None:
            tasks = await _tasks(http, owner, appointment_id=appointment["id"], kind="notify_owner")
            hooks = [task for task in tasks if task["payload"].get("channel") == "webhook"]
            return hooks[0] if hooks and hooks[0]["attempts"] >= 1 and hooks[0]["status"] == "queued" else None

        task = await eventually(webhook_task, what="the webhook's first attempt failed")
        task_url = f"{T}/{task['id']}"
        assert task["last_error"] == "the webhook answered HTTP 503"
        waits = [datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["updated_at"])]
        async with service_conn(settings, "workflows") as conn:
            await conn.execute("UPDATE tasks SET max_attempts = 3 WHERE id = $1", uuid.UUID(task["id"]))

        for attempt in (2, 3):
            await _come_due(settings, task["id"])

            async def attempted(n: int = attempt) -> dict | None:
                now = (await http.get(task_url, headers=owner.headers)).json()
                return now if now["attempts"] >= n and now["status"] != "running" else None

            task = await eventually(attempted, what=f"attempt {attempt}")
            if task["status"] == "queued":
                waits.append(datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["updated_at"]))
        assert len(receiver.calls) == 3
        # 30 s after the first failure, 60 s after the second: each wait doubles.
        assert [round(wait.total_seconds()) for wait in waits] == [30, 60]
        assert task["status"] == "failed" and task["attempts"] == 3 and task["finished_at"]
        assert task["last_error"] == "the webhook answered HTTP 503"
        failed = await _tasks(http, owner, status="failed")
        assert task["id"] in [t["id"] for t in failed], "the owner sees it among the failed tasks"

        # The receiver is back; the owner retries it.
        receiver.status = 204
        viewer = await member_of(http, owner, "viewer")
        assert (await http.post(f"{T}/{task['id']}/retry", headers=viewer.headers)).status_code == 403
        retried = await http.post(f"{T}/{task['id']}/retry", headers=owner.headers)
        assert retried.status_code == 200 and retried.json()["status"] in ("queued", "running", "succeeded")

        async def delivered() -> dict | None:
            now = (await http.get(f"{T}/{task['id']}", headers=owner.headers)).json()
            return now if now["status"] == "succeeded" else None

        await eventually(delivered, what="the retried webhook succeeds")
        assert len(receiver.calls) == 4
        again = await http.post(f"{T}/{task['id']}/retry", headers=owner.headers)
        assert again.status_code == 409, "a task that succeeded is not retried"


async def test_a_task_left_running_by_a_dead_replica_runs_again(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings
) -> None:
    salon = await _salon(http)
    appointment, _ = await _book(http, salon, days=8, hour=9)
    owner_address = salon["notify"]["emails"][0]
    await mail_to(running_stack.home, owner_address, timeout_s=30)  # the booking's notice
    # A replica claimed this notice (attempt 1, `running`) and died before finishing it.
    task_id = uuid.uuid4()
    async with service_conn(settings, "workflows") as conn:
        await conn.execute(
            "INSERT INTO tasks (id, workspace_id, kind, status, due_at, attempts, appointment_id, payload, updated_at) "
            "VALUES ($1, $2, 'notify_owner', 'running', now() - interval '10 minutes', 1, $3, $4::text::jsonb, "
            "now() - make_interval(secs => $5))",
            task_id,
            uuid.UUID(salon["owner"].workspace_id),
            uuid.UUID(appointment["id"]),
            orjson.dumps({"channel": "mail", "event": "booked", "bot_id": salon["bot"]["id"]}).decode(),
            settings.workflows_task_lease_s + 60,
        )
    await mail_to(running_stack.home, owner_address, count=2, timeout_s=30)

    async def finished() -> dict | None:
        task = (await http.get(f"{T}/{task_id}", headers=salon["owner"].headers)).json()
        return task if task["status"] == "succeeded" else None

    task = await eventually(finished, what="the abandoned task ran again")
    assert task["attempts"] == 2


async def test_a_queued_task_can_be_cancelled_by_an_admin_only(http: httpx.AsyncClient) -> None:
    salon = await _salon(http, reminder_hours=[24])
    owner = salon["owner"]
    appointment, _ = await _book(http, salon, days=9, hour=13)
    [reminder] = await _tasks(http, owner, appointment_id=appointment["id"], kind="reminder")
    agent = await member_of(http, owner, "agent")
    assert (await http.post(f"{T}/{reminder['id']}/cancel", headers=agent.headers)).status_code == 403
    cancelled = await http.post(f"{T}/{reminder['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await http.post(f"{T}/{reminder['id']}/cancel", headers=owner.headers)).status_code == 409
    # Another workspace's owner sees no such task.
    stranger = await register(http, workspace="Elsewhere")
    assert (await http.get(f"{T}/{reminder['id']}", headers=stranger.headers)).status_code == 404
    assert reminder["id"] not in [task["id"] for task in await _tasks(http, stranger)]
    bad = await http.get(T, params={"status": "exploded"}, headers=owner.headers)
    assert bad.status_code == 422


async def test_the_payloads_shown_name_no_visitor(http: httpx.AsyncClient) -> None:
    salon = await _salon(http, reminder_hours=[24])
    appointment, email = await _book(http, salon, days=10, hour=16)
    tasks = await _tasks(http, salon["owner"], appointment_id=appointment["id"])
    assert tasks and all(email not in orjson.dumps(task).decode() for task in tasks)
    assert all("Kovač" not in orjson.dumps(task).decode() for task in tasks)
    assert datetime.fromisoformat(tasks[0]["created_at"]) <= datetime.now(UTC)


async def test_a_lead_that_does_not_book_gets_the_owner_a_follow_up(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings
) -> None:
    salon = await _salon(http, follow_up_hours=6)
    owner = salon["owner"]
    visitor = await visitor_of(http, owner, salon["bot"])
    said = await visitor.say("Do you sell gift cards?")
    conversation_id = said["conversation_id"]
    lead = await http.post(
        "/api/chat/lead",
        json={"conversation_id": conversation_id, "name": "Pia", "email": f"pia-{uuid.uuid4().hex[:6]}@example.com"},
        headers=visitor.headers,
    )
    assert lead.status_code in (200, 201), lead.text

    async def planned() -> list[dict]:
        return await _tasks(http, owner, kind="follow_up")

    [follow_up] = await eventually(planned, what="a follow-up is planned for the lead")
    assert follow_up["conversation_id"] == conversation_id and follow_up["status"] == "queued"
    due = datetime.fromisoformat(follow_up["due_at"]) - datetime.fromisoformat(follow_up["created_at"])
    assert abs(due - timedelta(hours=6)) < timedelta(seconds=5)
    # The same lead form sent again plans no second one.
    again = await http.post(
        "/api/chat/lead", json={"conversation_id": conversation_id, "name": "Pia B."}, headers=visitor.headers
    )
    assert again.status_code in (200, 201), again.text

    await _come_due(settings, follow_up["id"])
    owner_address = salon["notify"]["emails"][0]
    mails = await mail_to(running_stack.home, owner_address, timeout_s=30)
    [chase] = [mail for mail in mails if "Follow up" in str(mail["Subject"])]
    assert f"/dashboard#/conversations/{conversation_id}" in text_of(chase)
    assert len(await _tasks(http, owner, kind="follow_up")) == 1


async def test_a_webhook_to_a_private_address_is_refused_at_once(http: httpx.AsyncClient) -> None:
    # The cloud metadata service: never reached, whatever the allow-list says.
    salon = await _salon(http, webhook_url="http://169.254.169.254/latest/meta-data/")
    appointment, _ = await _book(http, salon, days=11, hour=12)

    async def ended() -> dict | None:
        tasks = await _tasks(http, salon["owner"], appointment_id=appointment["id"], kind="notify_owner")
        hooks = [task for task in tasks if task["payload"].get("channel") == "webhook"]
        return hooks[0] if hooks and hooks[0]["status"] == "failed" else None

    task = await eventually(ended, what="the webhook task fails")
    assert task["attempts"] == 1, "no retry can make a refused address acceptable"
    assert task["last_error"].startswith("the webhook URL is refused") and "metadata" in task["last_error"]

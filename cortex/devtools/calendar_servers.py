"""The three calendar servers the tests and benchmarks run beside a stack: a real CalDAV server (Radicale)
and the local Google Calendar and Microsoft Graph stand-ins, with the settings that point a stack at them.

    servers = CalendarServers().start()
    env = servers.env()          # CORTEX_GOOGLE_*, CORTEX_MS_*, CORTEX_CALENDAR_ALLOW_NETWORKS
    ...
    servers.stop()
"""

from __future__ import annotations

import json

from cortex.devtools import fake_google_calendar, fake_ms_graph
from cortex.devtools.fake_google_calendar import FakeGoogleCalendar
from cortex.devtools.fake_ms_graph import FakeMSGraph
from cortex.devtools.radicale_server import RadicaleServer

#: The CalDAV account every test connects with (Radicale's htpasswd holds it).
CALDAV_USER = "owner"
CALDAV_PASSWORD = "radicale-owner-password-0123"


class CalendarServers:
    def __init__(self) -> None:
        self.radicale = RadicaleServer(users={CALDAV_USER: CALDAV_PASSWORD})
        self.google = FakeGoogleCalendar()
        self.graph = FakeMSGraph()

    def start(self) -> CalendarServers:
        self.radicale.start()
        self.google.start()
        self.graph.start()
        return self

    def stop(self) -> None:
        self.google.stop()
        self.graph.stop()
        self.radicale.close()

    def env(self) -> dict[str, str]:
        """The settings of a stack that connects to these servers (CalDAV on loopback allowed)."""
        return {
            "CORTEX_CALENDAR_ALLOW_NETWORKS": json.dumps(["127.0.0.1/32"]),
            "CORTEX_GOOGLE_CLIENT_ID": fake_google_calendar.CLIENT_ID,
            "CORTEX_GOOGLE_CLIENT_SECRET": fake_google_calendar.CLIENT_SECRET,
            "CORTEX_GOOGLE_OAUTH_URL": f"{self.google.url}/o/oauth2/v2/auth",
            "CORTEX_GOOGLE_TOKEN_URL": f"{self.google.url}/token",
            "CORTEX_GOOGLE_API_URL": self.google.url,
            "CORTEX_MS_CLIENT_ID": fake_ms_graph.CLIENT_ID,
            "CORTEX_MS_CLIENT_SECRET": fake_ms_graph.CLIENT_SECRET,
            "CORTEX_MS_LOGIN_URL": self.graph.url,
            "CORTEX_MS_GRAPH_URL": self.graph.url,
        }

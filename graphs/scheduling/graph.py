"""The scheduling graph: a booking conversation from the chat, driven to a booking, a move, a
cancellation, or an honest "nothing free".

    START → understand ─┬─→ ask ─────────────→ wait ─→ understand …
                        ├─→ offer ──┬─→ wait   (slots as reply buttons)
                        │           └─→ ask / book   (the exact time asked for is free)
                        ├─→ manage ─┬─→ wait   (which appointment?)
                        │           └─→ ask / offer / END
                        ├─→ book ───┬─→ END    (booked, moved)
                        │           └─→ wait   (taken meanwhile: the free times near it)
                        ├─→ cancel_appointment → END
                        └─→ END      (abandoned, or a message handed back to core)

`wait` is the only node that waits: it calls `interrupt` with the turn's reply and buttons, and the
visitor's next message resumes it (`Command(resume=message)`, cortex.workflows.runs). Every step is
checkpointed in Postgres (cortex.workflows.checkpoints), so any replica continues the run.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from cortex.workflows.runs import SchedulingDeps
from graphs.scheduling.nodes import Nodes
from graphs.scheduling.state import SchedulingState, TurnContext

NAME = "scheduling"
DESCRIPTION = (
    "Books, moves or cancels an appointment from a chat conversation: asks for what is missing (service, "
    "time, name, e-mail), offers free slots as reply buttons, waits for the visitor's choice and books it."
)
STEPS = ("understand", "ask", "offer", "manage", "book", "cancel_appointment", "wait")


def build_graph(deps: SchedulingDeps, checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled scheduling graph over `deps`, checkpointed by `checkpointer`."""
    nodes = Nodes(deps)
    builder = StateGraph(SchedulingState, context_schema=TurnContext)
    builder.add_node("understand", nodes.understand)
    builder.add_node("ask", nodes.ask)
    builder.add_node("offer", nodes.offer)
    builder.add_node("manage", nodes.manage)
    builder.add_node("book", nodes.book)
    builder.add_node("cancel_appointment", nodes.cancel_appointment)
    builder.add_node("wait", nodes.wait)

    builder.add_edge(START, "understand")
    acting = ["ask", "offer", "manage", "book", "cancel_appointment"]
    builder.add_conditional_edges("understand", nodes.route, [*acting, END])
    for node in ("offer", "manage", "book", "ask"):
        builder.add_conditional_edges(node, nodes.after_action, [*acting, "wait", END])
    builder.add_edge("cancel_appointment", END)
    builder.add_edge("wait", "understand")
    return builder.compile(checkpointer=checkpointer, name=NAME)


def make_graph(deps: SchedulingDeps, checkpointer: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The factory the deployment hands to the workflows service (cortex may not import graphs/)."""
    return build_graph(deps, checkpointer)

"""The agents app's projections (core/projections.py): message and state documents, and the
memories' graph nodes, are written from the rows. Each reads the rows as they are now, so a
late, repeated or out-of-order delivery writes the current state (idempotent).

Memory vectors cost an embedding call, so they are not a projection run inline: the handler
``agents.embed_memories`` (agents/handlers.py) writes them after the commit."""

from __future__ import annotations

from agents import stores
from agents.conversations import EVENT_MESSAGES_CHANGED, message_document
from agents.memory_writes import EVENT_MEMORIES_CHANGED
from agents.models import Conversation, Memory, Message, State
from agents.state import EVENT_STATE_CHANGED
from core.models import OutboxEvent
from core.projections import projection
from core.storage.ports import DocumentStore, Edge, GraphStore, Node


@projection(EVENT_MESSAGES_CHANGED, name="agents.project_messages", app=stores.APP, kind="documents")
def project_messages(event: OutboxEvent, store: DocumentStore) -> None:
    payload = event.payload
    workspace_id, conversation_id = int(payload["workspace_id"]), int(payload["conversation_id"])
    seqs = [int(s) for s in payload.get("seqs") or []]
    store.create_collection(stores.MESSAGES)
    agent_id = (
        Conversation.objects.filter(pk=conversation_id, workspace_id=workspace_id)
        .values_list("agent_id", flat=True)
        .first()
    )
    rows = {m.seq: m for m in Message.objects.filter(conversation_id=conversation_id, seq__in=seqs)}
    if agent_id is not None and rows:
        store.put_many(
            stores.MESSAGES,
            [
                (
                    stores.message_id(conversation_id, seq),
                    message_document(m, workspace_id=workspace_id, agent_id=agent_id),
                )
                for seq, m in sorted(rows.items())
            ],
        )
    gone = [stores.message_id(conversation_id, s) for s in seqs if s not in rows or agent_id is None]
    if gone:
        store.delete_many(stores.MESSAGES, gone)


@projection(EVENT_STATE_CHANGED, name="agents.project_state", app=stores.APP, kind="documents")
def project_state(event: OutboxEvent, store: DocumentStore) -> None:
    payload = event.payload
    scope, scope_id = str(payload["scope"]), int(payload["scope_id"])
    store.create_collection(stores.STATE)
    row = State.objects.filter(scope=scope, scope_id=scope_id).first()
    doc_id = stores.state_id(scope, scope_id)
    if row is None:
        store.delete(stores.STATE, doc_id)
        return
    current = store.get(stores.STATE, doc_id)
    if current is not None and int(current.get("version", 0)) > row.version:
        return  # a newer state is already there
    store.put(
        stores.STATE,
        doc_id,
        {
            "workspace_id": row.workspace_id,
            "scope": scope,
            "scope_id": scope_id,
            "version": row.version,
            "data": row.data,
        },
    )


@projection(EVENT_MEMORIES_CHANGED, name="agents.project_memory_graph", app=stores.APP, kind="graph")
def project_memory_graph(event: OutboxEvent, store: GraphStore) -> None:
    """Each named memory's node and its ABOUT edges to the entities it is about (the node, and
    so its edges, is deleted when the memory is gone)."""
    payload = event.payload
    workspace_id = int(payload["workspace_id"])
    ids = [int(i) for i in payload.get("memory_ids") or []]
    store.define_node_label(stores.MEMORY_LABEL)
    store.define_node_label(stores.ENTITY_LABEL)
    store.define_edge_type(stores.ABOUT)
    names = {int(k): v for k, v in (payload.get("entity_names") or {}).items()}
    rows = {m.pk: m for m in Memory.objects.filter(pk__in=ids, workspace_id=workspace_id)}
    for memory_id in ids:
        ref = stores.memory_ref(workspace_id, memory_id)
        memory = rows.get(memory_id)
        store.delete_node(ref)  # drops its old edges too; rewritten below when it lives
        if memory is None:
            continue
        nodes = [
            Node(
                ref.label,
                ref.key,
                {
                    "workspace_id": workspace_id,
                    "memory_id": memory_id,
                    "agent_id": memory.agent_id,
                    "user_id": memory.user_id or 0,
                },
            )
        ]
        edges = []
        for entity_id in memory.entity_ids:
            target = stores.entity_ref(workspace_id, entity_id)
            props = {"workspace_id": workspace_id, "entity_id": entity_id, "name": names.get(entity_id, "")}
            nodes.append(Node(target.label, target.key, props))
            edges.append(Edge(stores.ABOUT, ref, target, {"workspace_id": workspace_id}))
        store.bulk_load(nodes=nodes, edges=edges)

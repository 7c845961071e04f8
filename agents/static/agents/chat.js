// The chat page: send the message with fetch and show the answer as it streams (one JSON event
// per line). Without JavaScript the form posts and the page reloads with the answer.
(function () {
  const form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  const list = document.getElementById("messages");
  const status = document.getElementById("chat-status");
  const textarea = form.querySelector("textarea");
  const documentUrl = form.dataset.documentUrl;

  function add(role, text) {
    const item = document.createElement("li");
    item.className = "message " + role;
    item.dataset.role = role;
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = role === "user" ? "You" : form.dataset.agentName;
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    item.append(who, body);
    list.append(item);
    return item;
  }

  function showCitations(item, citations) {
    if (!citations.length) return;
    const ol = document.createElement("ol");
    ol.className = "citations";
    for (const c of citations) {
      const li = document.createElement("li");
      li.dataset.n = c.n;
      li.append(`[${c.n}] `);
      if (c.document_id) {
        const a = document.createElement("a");
        a.href = documentUrl.replace(/0\/?$/, `${c.document_id}/`) + (c.chunk_id ? `#chunk-${c.chunk_id}` : "");
        a.textContent = c.title || c.ref;
        li.append(a);
      } else {
        li.append(`${c.kind} ${c.ref}`);
      }
      const q = document.createElement("q");
      q.textContent = c.quote.length > 200 ? c.quote.slice(0, 199) + "…" : c.quote;
      li.append(" ", q);
      ol.append(li);
    }
    item.append(ol);
  }

  // Thumbs up/down on an answer, sent to the flywheel's feedback endpoint (when installed): the
  // history's answers carry their bar (hidden until this script wires it), new answers get one.
  function wireFeedback(bar, eventId) {
    const url = form.dataset.feedbackUrl;
    if (!url || !eventId) return;
    for (const button of bar.querySelectorAll("button[data-thumbs]")) {
      button.addEventListener("click", async () => {
        const body = new FormData();
        body.append("thumbs", button.dataset.thumbs);
        const response = await fetch(url.replace(/\/0\//, `/${eventId}/`), {
          method: "POST",
          body,
          headers: { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
          credentials: "same-origin",
        });
        bar.textContent = response.ok ? "Thanks for the feedback." : "The feedback was not saved.";
      });
    }
    bar.hidden = false;
  }

  function showFeedback(item, eventId) {
    if (!form.dataset.feedbackUrl || !eventId) return;
    const bar = document.createElement("div");
    bar.className = "feedback";
    for (const [thumbs, label] of [["up", "Helpful"], ["down", "Not helpful"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "linklike";
      button.dataset.thumbs = thumbs;
      button.textContent = label;
      bar.append(button, " ");
    }
    item.append(bar);
    wireFeedback(bar, eventId);
  }

  for (const bar of list.querySelectorAll(".feedback[data-event-id]")) wireFeedback(bar, bar.dataset.eventId);

  function showError(item, message) {
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    item.append(p);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) return;
    const data = new FormData(form);
    add("user", text);
    textarea.value = "";
    const answer = add("assistant", "");
    const body = answer.querySelector(".text");
    const button = form.querySelector("button");
    button.disabled = true;
    status.textContent = "Thinking…";
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: data,
        headers: { Accept: "application/x-ndjson", "X-CSRFToken": data.get("csrfmiddlewaretoken") },
        credentials: "same-origin",
      });
      if (!response.ok) {
        let message = `The message was refused (${response.status}).`;
        try {
          const problem = await response.json();
          if (typeof problem.error === "string") message = problem.error;
        } catch (e) { /* not JSON */ }
        showError(answer, message);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line.trim()) continue;
          const event = JSON.parse(line);
          if (event.type === "start") {
            form.elements.conversation.value = event.conversation_id;
            history.replaceState(null, "", `${form.dataset.chatUrl}?c=${event.conversation_id}`);
          } else if (event.type === "delta") {
            body.textContent += event.text;
            status.textContent = "Answering…";
          } else if (event.type === "error") {
            showError(answer, event.message);
          } else if (event.type === "done") {
            showCitations(answer, event.citations);
            showFeedback(answer, event.event_id);
            answer.dataset.done = "1";
          }
        }
      }
    } catch (error) {
      showError(answer, "The connection was lost; your message is kept in the conversation.");
    } finally {
      button.disabled = false;
      status.textContent = "";
    }
  });
})();

// The graph explorer: draws a node's neighbourhood with vis-network (shipped by the PyPI package
// pyvis, served as a static file); a click expands a node, a double click opens its page.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("graph");
    var status = document.getElementById("graph-status");
    var form = document.getElementById("explore-form");
    if (!box || !form || typeof vis === "undefined") { return; }
    var params = new URLSearchParams(window.location.search);
    var key = params.get("key");
    if (!key) { status.textContent = "Enter an entity key (or doc:ID) to start."; return; }
    var depth = params.get("depth") || "1";
    var labels = params.get("labels") || "";
    var nodes = new vis.DataSet([]);
    var edges = new vis.DataSet([]);
    var network = new vis.Network(box, { nodes: nodes, edges: edges }, {
      nodes: { shape: "dot", size: 14, font: { size: 14 } },
      edges: { arrows: "to", font: { size: 10, align: "middle" } },
      physics: { stabilization: { iterations: 150 } }
    });
    box.network = network;  // for tests and the console
    var expanded = {};
    function load(nodeKey) {
      var query = new URLSearchParams({ key: nodeKey, depth: depth });
      if (labels) { query.set("labels", labels); }
      status.textContent = "Loading " + nodeKey + "…";
      return fetch(box.dataset.jsonUrl + "?" + query.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (body) { return [response, body]; }); })
        .then(function (pair) {
          var response = pair[0], body = pair[1];
          if (!response.ok) { status.textContent = (body && body.error && (body.error.key || body.error)) || "Not found"; return; }
          expanded[nodeKey] = true;
          body.nodes.forEach(function (n) {
            if (!nodes.get(n.key)) {
              nodes.add({ id: n.key, label: n.name, title: n.type, group: n.kind === "document" ? "document" : n.type,
                          shape: n.kind === "document" ? "box" : "dot", kind: n.kind,
                          entityId: n.entity_id, documentId: n.document_id });
            }
          });
          body.edges.forEach(function (e) {
            var id = e.label + "|" + e.source + "|" + e.target;
            if (!edges.get(id)) { edges.add({ id: id, from: e.source, to: e.target, label: e.label }); }
          });
          status.textContent = nodes.length + " nodes, " + edges.length + " edges";
          box.dataset.nodes = String(nodes.length);
          box.dataset.edges = String(edges.length);
        })
        .catch(function () { status.textContent = "Could not load the graph."; });
    }
    network.on("click", function (event) {
      if (event.nodes.length && !expanded[event.nodes[0]]) { load(event.nodes[0]); }
    });
    network.on("doubleClick", function (event) {
      if (!event.nodes.length) { return; }
      var node = nodes.get(event.nodes[0]);
      if (node.kind === "document" && node.documentId) {
        window.location.href = box.dataset.documentUrl.replace("/0/", "/" + node.documentId + "/");
      } else if (node.entityId) {
        window.location.href = box.dataset.entityUrl.replace("/0/", "/" + node.entityId + "/");
      }
    });
    box.expand = load;
    load(key);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

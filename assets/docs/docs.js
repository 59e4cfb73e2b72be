// Renders /api/openapi.json: operations grouped by tag, with their
// parameters, request body and responses. No dependency, no other origin.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function schemaOf(spec, schema) {
  if (!schema) return null;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return (spec.components && spec.components.schemas && spec.components.schemas[name]) || null;
  }
  return schema;
}

function typeName(schema) {
  if (!schema) return "";
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  if (schema.type) return schema.type;
  if (schema.oneOf) return schema.oneOf.map(typeName).join(" | ");
  return "";
}

function bodyTable(spec, content) {
  const json = content && (content["application/json"] || Object.values(content)[0]);
  const schema = schemaOf(spec, json && json.schema);
  if (!schema || !schema.properties) return null;
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties).map(([name, p]) =>
    el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, typeName(p)),
      el("td", {}, required.has(name) ? "required" : "optional"), el("td", {}, p.description || "")));
  return el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, ""), el("th", {}, "")), ...rows);
}

function operation(spec, path, method, op) {
  const head = el("summary", {}, el("span", { class: `method ${method}` }, method), " ",
    el("span", { class: "path" }, path), " — ", op.summary || "");
  if (op.security && op.security.length) head.append(el("span", { class: "lock" }, "admin token"));
  const body = el("div", { class: "body" });
  const text = (op.description || "").split("\n").slice(1).join("\n").trim();
  if (text) body.append(el("p", {}, text));
  if (op.parameters && op.parameters.length) {
    body.append(el("h4", {}, "Parameters"), el("table", {},
      ...op.parameters.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
        el("td", {}, p.required ? "required" : "optional"), el("td", {}, p.description || "")))));
  }
  if (op.requestBody) {
    body.append(el("h4", {}, "Request body"));
    const table = bodyTable(spec, op.requestBody.content);
    if (table) body.append(table);
  }
  const responses = Object.entries(op.responses || {});
  if (responses.length) {
    body.append(el("h4", {}, "Responses"), el("table", {},
      ...responses.map(([code, r]) => el("tr", {}, el("td", {}, el("code", {}, code)), el("td", {}, r.description || "")))));
  }
  return el("details", {}, head, body);
}

async function main() {
  const root = document.getElementById("api");
  let spec;
  try {
    const answer = await fetch("/api/openapi.json");
    spec = await answer.json();
  } catch (e) {
    root.textContent = `Could not load /api/openapi.json: ${e}`;
    return;
  }
  document.getElementById("title").textContent = spec.info.title;
  document.getElementById("description").textContent = spec.info.description || "";
  const byTag = new Map((spec.tags || []).map((t) => [t.name, { description: t.description, ops: [] }]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, { description: "", ops: [] });
      byTag.get(tag).ops.push(operation(spec, path, method, op));
    }
  }
  root.textContent = "";
  for (const [tag, group] of byTag) {
    if (!group.ops.length) continue;
    root.append(el("h2", {}, tag), el("p", {}, group.description || ""), ...group.ops);
  }
}

main();

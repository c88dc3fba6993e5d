// Reading and using Thunderbird's windows as a person does: by what is written on the screen.
// Run by Marionette in the main window's chrome scope; each call appends `return NAME(...)`.
//
// A "scope" is where to look: "hub" (the Account Hub, in its shadow tree), "settings" (the
// Account Settings tab and the page inside it), "menu" (the ≡ menu's panel).

function roots(scope) {
  const out = [];
  const add = (root) => {
    if (!root) return;
    out.push(root);
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) add(el.shadowRoot);
    }
  };
  if (scope == "hub") {
    const hub = document.querySelector("account-hub-container");
    add(hub && hub.shadowRoot);
  } else if (scope == "settings") {
    const tab = document.getElementById("tabmail").tabInfo.find(
      (t) => t.browser && t.browser.currentURI.spec == "about:accountsettings");
    const doc = tab && tab.browser.contentDocument;
    add(doc);
    const frame = doc && doc.getElementById("contentFrame");
    add(frame && frame.contentDocument);
  } else if (scope == "menu") {
    add(document.getElementById("appMenu-popup"));
  }
  return out;
}

function shown(el) {
  if (!el.checkVisibility) return true;
  return el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
}

// The text an element itself shows: its own text nodes (or a XUL element's label), as the
// screen shows it (CSS capitals applied).
function ownText(el) {
  let text = [...el.childNodes]
    .filter((n) => n.nodeType == Node.TEXT_NODE)
    .map((n) => n.textContent)
    .join("");
  if (!text.trim() && el.getAttribute && el.getAttribute("label") && !el.querySelector("label")) {
    text = el.getAttribute("label");
  }
  text = text.replace(/\s+/g, " ").trim();
  if (!text) return "";
  const style = el.ownerDocument.defaultView.getComputedStyle(el);
  if (style && style.textTransform == "uppercase") text = text.toUpperCase();
  return text;
}

// Everything readable on the screen in `scope`: texts, and the values of fields.
function texts(scope) {
  const out = new Set();
  for (const root of roots(scope)) {
    for (const el of root.querySelectorAll("*")) {
      if (!shown(el)) continue;
      const t = ownText(el);
      if (t) out.add(t);
      if (el.localName == "input" && el.type != "radio" && el.type != "checkbox" && el.value) {
        out.add(el.value);
      }
      if (el.localName == "select" && el.selectedOptions && el.selectedOptions[0]) {
        const o = el.selectedOptions[0];
        out.add((o.label || o.textContent).trim());
      }
      if (el.localName == "menulist" && el.label) out.add(el.label);
    }
  }
  return [...out];
}

// The visible elements that show exactly `label`.
function showing(scope, label) {
  const hits = [];
  for (const root of roots(scope)) {
    for (const el of root.querySelectorAll("*")) {
      if (shown(el) && ownText(el) == label) hits.push(el);
    }
  }
  return hits;
}

function describe(el) {
  return el.localName + (el.id ? "#" + el.id : "");
}

// Clicks the control that shows `label`: the button, link, label or menu item around the text.
function click(scope, label) {
  const hits = showing(scope, label);
  const targets = [...new Set(hits.map((el) =>
    el.closest("button, a, label, toolbarbutton, li, checkbox, [role=button], [role=treeitem]") || el))];
  if (targets.length != 1) {
    return { error: `${targets.length} controls show ${JSON.stringify(label)}`, seen: texts(scope) };
  }
  const target = targets[0];
  if (target.disabled) return { error: `${describe(target)} showing ${JSON.stringify(label)} is disabled` };
  target.scrollIntoView && target.scrollIntoView({ block: "center" });
  target.click();
  return { clicked: describe(target) };
}

// The field whose label shows `label`.
function field(scope, label) {
  for (const el of showing(scope, label)) {
    const lab = el.closest("label");
    if (!lab) continue;
    const f = lab.control || (lab.htmlFor && lab.getRootNode().getElementById(lab.htmlFor));
    if (f) return f;
  }
  return null;
}

function type(scope, label, value) {
  const f = field(scope, label);
  if (!f) return { error: `no field labelled ${JSON.stringify(label)}`, seen: texts(scope) };
  f.focus();
  f.value = value;
  f.dispatchEvent(new Event("input", { bubbles: true }));
  f.dispatchEvent(new Event("change", { bubbles: true }));
  return { typed: describe(f) };
}

// The shown value of the field labelled `label` (a select's chosen option).
function valueOf(scope, label) {
  const f = field(scope, label);
  if (!f) return { error: `no field labelled ${JSON.stringify(label)}`, seen: texts(scope) };
  if (f.localName == "select") {
    const o = f.selectedOptions[0];
    return { value: o ? (o.label || o.textContent).trim() : "" };
  }
  return { value: f.value };
}

// The Account Hub's state: which step is shown, its title, the footer's buttons, the chosen
// protocol and which one carries the "recommended" badge.
function hub() {
  const root = document.querySelector("account-hub-container");
  if (!root || !root.shadowRoot) return { open: false };
  const r = root.shadowRoot;
  const dialog = r.querySelector("dialog");
  const steps = [...r.querySelectorAll(".account-hub-step")].filter((s) => !s.hidden && shown(s));
  const footer = r.querySelector("#emailFooter");
  const buttons = footer
    ? [...(footer.shadowRoot || footer).querySelectorAll("button")]
        .filter((b) => shown(b))
        .map((b) => ({ id: b.id, text: ownText(b) || b.textContent.trim(), disabled: b.disabled }))
    : [];
  const checked = r.querySelector("#protocolForm input[type=radio]:checked");
  const badges = [...r.querySelectorAll("#protocolForm label")]
    .filter((l) => shown(l) && l.classList.contains("recommended-protocol"))
    .map((l) => l.id);
  const busy = [...r.querySelectorAll("*")].some((el) => el.id == "emailFormNotificationTitle" && shown(el));
  return {
    open: !!(dialog && dialog.open),
    steps: steps.map((s) => s.id),
    buttons,
    chosen: checked ? checked.value : null,
    badges,
    busy,
  };
}

// Account Settings: the checkbox whose label (or its row: label, box, label) reads `label`.
function checkbox(label) {
  for (const root of roots("settings")) {
    for (const c of root.querySelectorAll("checkbox, input[type=checkbox]")) {
      if (!shown(c)) continue;
      const own = (c.label || (c.labels && c.labels[0] ? c.labels[0].textContent : "")).replace(/\s+/g, " ").trim();
      let row = own;
      const box = c.parentNode;
      if (box) {
        const parts = [...box.children].map((k) =>
          k === c ? own : k.localName == "input" || k.localName == "html:input" ? k.value : (k.value || k.getAttribute("value") || k.textContent || "").trim());
        row = parts.join(" ").replace(/\s+/g, " ").trim();
      }
      if (own == label || row == label) return c;
    }
  }
  return null;
}

function setChecked(label, on) {
  const c = checkbox(label);
  if (!c) return { error: `no checkbox reads ${JSON.stringify(label)}`, seen: texts("settings") };
  const before = c.checked;
  if (before != on) c.click();
  return { before, after: c.checked };
}

// Opside Integrations Hub dashboard: plain JavaScript, no build step, no third-party code.
//
// The user JWT lives in sessionStorage only (never in the URL after load). It comes from:
// - the "Sign in as demo seller" button (POST /api/dev/token), which the server enables only
//   in sandbox development (<meta name="opside-demo-login" content="true">);
// - the Opside frontend, which opens this page as /#token=<JWT>: the fragment is read once,
//   stored, and removed from the address bar before anything else runs.
// Live progress comes from the WebSocket /ws (authenticated by its first message, so the token
// stays out of URLs and access logs); REST polling stands in only while the socket is down.
"use strict";

(() => {
  const TOKEN_KEY = "opside.hub.token";
  const PROVIDERS = ["amazon", "gmail", "stripe"];
  const PROVIDER_NAMES = { amazon: "Amazon Seller Central", gmail: "Gmail", stripe: "Stripe" };
  const CASES_PAGE_SIZE = 10;
  const HISTORY_SIZE = 10;
  const CHART_MONTHS = 12;
  const CHART_MAX_PAGES = 4; // at most 2,000 claims are read for the chart
  const POLL_MS = 3000;
  const ACTIVE = new Set(["queued", "running"]);
  const STAGES = {
    queued: "Waiting for a worker",
    starting: "Starting",
    fetching_reimbursements: "Fetching reimbursements",
    fetching_inventory_ledger: "Fetching the inventory ledger",
    fetching_financial_events: "Fetching financial events",
    fetching_inventory: "Fetching inventory",
    building_cases: "Building cases",
    linking_documents: "Linking MCDE documents",
    processing_stripe: "Processing Stripe transactions",
    scanning_email: "Scanning Gmail for invoices",
    finalizing: "Finalizing",
    completed: "Completed",
    failed: "Failed",
    cancelled: "Cancelled",
  };
  const STATUS_TEXT = {
    active: "Connected",
    needs_reauth: "Needs reconnecting",
    revoked: "Access revoked",
    not_connected: "Not connected",
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null,
    userId: null,
    socket: null,
    socketLive: false,
    retries: 0,
    reconnectTimer: null,
    pollTimer: null,
    sync: null, // the sync shown in the progress bar
    casesCursors: [null], // cursor of each page visited; the last one is shown
    casesNext: null,
  };

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  // -- tokens ---------------------------------------------------------------------------------

  function takeTokenFromFragment() {
    if (!location.hash) return;
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (token === null) return;
    history.replaceState(null, "", location.pathname + location.search);
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
  }

  function takeOAuthResult() {
    const query = new URLSearchParams(location.search);
    const provider = query.get("integration");
    if (!provider) return null;
    history.replaceState(null, "", location.pathname);
    return { provider, status: query.get("status"), error: query.get("error") };
  }

  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
  }

  function usableToken(token) {
    const claims = token ? claimsOf(token) : null;
    if (!claims || typeof claims.sub !== "string") return null;
    if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now()) return null;
    return claims;
  }

  // -- HTTP -----------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok || !payload || payload.success === false) {
      const error = (payload && payload.error) || {};
      const failure = new ApiError(
        response.status,
        error.code || "http_error",
        error.message || `The server answered ${response.status}.`,
        error.details,
      );
      if (response.status === 401 && state.token) {
        signOut("Your session has ended. Sign in again.");
      }
      throw failure;
    }
    return payload;
  }

  // -- formatting -----------------------------------------------------------------------------

  const digitsCache = new Map();
  function fractionDigits(currency) {
    if (!digitsCache.has(currency)) {
      let digits = 2;
      try {
        digits = new Intl.NumberFormat("en", { style: "currency", currency })
          .resolvedOptions().maximumFractionDigits;
      } catch {
        digits = 2;
      }
      digitsCache.set(currency, digits);
    }
    return digitsCache.get(currency);
  }

  function formatMoney(money, compact) {
    if (!money || typeof money.amount !== "number") return "—";
    const value = money.amount / 10 ** fractionDigits(money.currency);
    try {
      return new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: money.currency,
        notation: compact ? "compact" : "standard",
      }).format(value);
    } catch {
      return `${value.toFixed(fractionDigits(money.currency))} ${money.currency}`;
    }
  }

  function formatTime(iso, short) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "—";
    if (short) {
      return date.toLocaleString(undefined, {
        month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
      });
    }
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function formatDuration(seconds) {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "—";
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  function durationOf(sync) {
    if (!sync.startedAt || !sync.finishedAt) return null;
    return (new Date(sync.finishedAt) - new Date(sync.startedAt)) / 1000;
  }

  function stageText(stage) {
    if (!stage) return "";
    if (STAGES[stage]) return STAGES[stage];
    const words = stage.replace(/[_.]+/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function badge(status) {
    return el("span", status, { class: "badge", "data-status": status });
  }

  // -- notices --------------------------------------------------------------------------------

  function showNotice(message, kind) {
    const notice = $("notice");
    notice.textContent = message;
    notice.dataset.kind = kind || "info";
    notice.hidden = false;
  }

  function clearNotice() {
    $("notice").hidden = true;
    $("notice").textContent = "";
  }

  function reportError(error) {
    showNotice(error instanceof Error ? error.message : String(error), "error");
  }

  function guarded(handler) {
    return async (event) => {
      const button = event && event.currentTarget;
      if (button) button.disabled = true;
      try {
        await handler(event);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 401)) reportError(error);
      } finally {
        if (button && button.isConnected) button.disabled = false;
        renderSyncControls();
      }
    };
  }

  // -- session --------------------------------------------------------------------------------

  function showSignedOut() {
    $("dashboard").hidden = true;
    $("session").hidden = true;
    $("signin").hidden = false;
    const demo = document.querySelector('meta[name="opside-demo-login"]');
    const demoEnabled = Boolean(demo && demo.content === "true");
    $("demo-login").hidden = !demoEnabled;
    $("handoff-hint").hidden = demoEnabled;
    document.documentElement.dataset.view = "signed-out";
  }

  async function signIn(token) {
    const claims = usableToken(token);
    if (!claims) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignedOut();
      return;
    }
    state.token = token;
    state.userId = claims.sub;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("user-id").textContent = claims.sub;
    $("signin").hidden = true;
    $("session").hidden = false;
    $("dashboard").hidden = false;
    document.documentElement.dataset.view = "dashboard";
    openSocket();
    await refreshAll();
  }

  function signOut(message) {
    state.token = null;
    state.userId = null;
    state.sync = null;
    sessionStorage.removeItem(TOKEN_KEY);
    closeSocket();
    stopPolling();
    showSignedOut();
    if (message) showNotice(message, "error");
    else clearNotice();
  }

  async function demoSignIn() {
    const payload = await api("POST", "/api/dev/token");
    clearNotice();
    await signIn(payload.data.token);
    $("main").focus();
  }

  // -- connections ----------------------------------------------------------------------------

  async function loadIntegrations() {
    const payload = await api("GET", "/api/integrations");
    for (const provider of PROVIDERS) {
      renderConnection(provider, payload.data[provider] || { status: "not_connected" });
    }
  }

  function renderConnection(provider, integration) {
    const item = document.querySelector(`.connection[data-provider="${provider}"]`);
    const status = integration.status || "not_connected";
    item.dataset.status = status;
    $(`${provider}-state`).textContent = STATUS_TEXT[status] || status;
    const details = [];
    if (integration.accountId) details.push(integration.accountId);
    if (integration.lastSyncAt) details.push(`last sync ${formatTime(integration.lastSyncAt)}`);
    $(`${provider}-detail`).textContent = details.join(" · ");
    const connect = item.querySelector('[data-action="connect"]');
    const disconnect = item.querySelector('[data-action="disconnect"]');
    connect.hidden = status === "active";
    connect.textContent = status === "not_connected" ? "Connect" : "Reconnect";
    disconnect.hidden = status === "not_connected";
  }

  async function connect(event) {
    const provider = event.currentTarget.dataset.provider;
    const payload = await api("GET", `/api/${provider}/auth`);
    const target = new URL(payload.data.authUrl, location.href);
    if (target.protocol !== "https:" && target.protocol !== "http:") {
      throw new Error("The provider's consent address is not a web address.");
    }
    location.assign(target.href);
  }

  async function disconnect(event) {
    const provider = event.currentTarget.dataset.provider;
    await api("DELETE", `/api/${provider}/disconnect`);
    showNotice(`${PROVIDER_NAMES[provider]} disconnected.`, "info");
    await loadIntegrations();
  }

  function announceOAuthResult(result) {
    if (!result || !PROVIDERS.includes(result.provider)) return;
    const name = PROVIDER_NAMES[result.provider];
    if (result.status === "connected") {
      showNotice(`${name} connected.`, "ok");
    } else {
      const reason = result.error ? ` (${result.error.replace(/[^\w.-]/g, "")})` : "";
      showNotice(`${name} was not connected${reason}.`, "error");
    }
  }

  // -- sync -----------------------------------------------------------------------------------

  function isActive(sync) {
    return Boolean(sync && ACTIVE.has(sync.status));
  }

  // Events can repeat or arrive out of order (a socket's snapshot, a poll): keep the newest.
  function acceptSync(update) {
    const current = state.sync;
    if (!current || current.syncId !== update.syncId) {
      if (isActive(current) && !isActive(update)) return false; // a stale, finished sync
      return true;
    }
    if (!isActive(current) && isActive(update)) return false;
    return new Date(update.updatedAt) >= new Date(current.updatedAt) || !isActive(update);
  }

  function showSync(update, source) {
    if (!update || !update.syncId || !acceptSync(update)) return;
    const previous = state.sync;
    const percent = Math.max(
      0,
      Math.min(100, previous && previous.syncId === update.syncId && isActive(update)
        ? Math.max(previous.percent, update.percent)
        : update.percent),
    );
    state.sync = { ...update, percent };
    const progress = $("sync-progress");
    progress.value = percent;
    progress.textContent = `${percent}%`;
    progress.dataset.status = update.status;
    progress.dataset.source = source;
    $("sync-percent").textContent = `${percent}%`;
    $("sync-stage").textContent = stageText(update.stage);
    $("sync-cases").textContent = update.totalCases
      ? `${update.processedCases} of ${update.totalCases} cases`
      : "";
    $("sync-label").textContent = isActive(update)
      ? "Sync in progress"
      : `Last sync ${update.status}${update.finishedAt ? `, ${formatTime(update.finishedAt)}` : ""}`;
    document.documentElement.dataset.syncStatus = update.status;
    renderSyncControls();
    if (isActive(update)) {
      if (!state.socketLive) startPolling();
    } else {
      stopPolling();
      const wasRunning = previous && previous.syncId === update.syncId && isActive(previous);
      if (wasRunning) finished(update);
    }
  }

  function finished(sync) {
    if (sync.status === "completed") {
      showNotice(`Sync completed: ${sync.totalCases} cases in the ledger.`, "ok");
    } else if (sync.status === "failed") {
      showNotice(`Sync failed: ${sync.error || "see the sync history"}.`, "error");
    } else {
      showNotice("Sync cancelled.", "info");
    }
    refreshAll().catch(reportError);
  }

  function renderSyncControls() {
    const active = isActive(state.sync);
    $("sync-button").disabled = active;
    $("cancel-button").hidden = !active;
  }

  async function startSync() {
    try {
      const payload = await api("POST", "/api/sync/start", {});
      clearNotice();
      showSync(
        {
          syncId: payload.data.syncId,
          status: payload.data.status,
          stage: "queued",
          percent: 0,
          totalCases: 0,
          processedCases: 0,
          updatedAt: new Date(0).toISOString(),
        },
        "rest",
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.details) {
        showNotice("A sync is already running: showing it.", "info");
        const running = await api("GET", `/api/sync/status/${encodeURIComponent(error.details.syncId)}`);
        showSync(running.data, "rest");
        return;
      }
      if (error instanceof ApiError && error.code === "nothing_to_sync") {
        showNotice("Connect Amazon, Gmail or Stripe first: there is nothing to sync yet.", "error");
        return;
      }
      throw error;
    }
  }

  async function cancelSync() {
    if (!isActive(state.sync)) return;
    const payload = await api("DELETE", `/api/sync/cancel/${encodeURIComponent(state.sync.syncId)}`);
    showNotice("Cancelling: the sync stops at its next safe point.", "info");
    showSync(payload.data, "rest");
  }

  async function pollOnce() {
    if (!isActive(state.sync) || !state.token) return;
    const payload = await api("GET", `/api/sync/status/${encodeURIComponent(state.sync.syncId)}`);
    showSync(payload.data, "poll");
  }

  function startPolling() {
    if (state.pollTimer) return;
    state.pollTimer = setInterval(() => pollOnce().catch(() => {}), POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  // -- WebSocket ------------------------------------------------------------------------------

  function setLive(live) {
    state.socketLive = live;
    $("live").dataset.state = live ? "online" : "offline";
    $("live-text").textContent = live ? "Live" : "Offline";
  }

  function openSocket() {
    if (!state.token || state.socket) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    state.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: state.token }));
    });
    socket.addEventListener("message", (event) => onSocketMessage(event.data));
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      setLive(false);
      if (!state.token) return;
      if (event.code === 4401) {
        signOut("Your session has ended. Sign in again.");
        return;
      }
      if (isActive(state.sync)) startPolling();
      // 1012: the server asked us to come back (lifetime, deploy); otherwise back off.
      const base = event.code === 1012 ? 250 : Math.min(30000, 1000 * 2 ** state.retries);
      state.retries += 1;
      state.reconnectTimer = setTimeout(openSocket, base * (0.5 + Math.random() / 2));
    });
  }

  function closeSocket() {
    if (state.reconnectTimer) clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    const socket = state.socket;
    state.socket = null;
    setLive(false);
    if (socket) socket.close(1000, "signed_out");
  }

  function onSocketMessage(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    switch (message.event) {
      case "connected":
        setLive(true);
        state.retries = 0;
        stopPolling();
        // Events published while we were away are gone: catch up from the database once.
        if (isActive(state.sync)) pollOnce().catch(() => {});
        break;
      case "sync_progress_update":
      case "sync_completed":
      case "sync_failed":
      case "sync_cancelled":
        showSync(message.data, "ws");
        break;
      default:
        break; // ping (keepalive), reconnect (a close follows), events of newer servers
    }
  }

  // -- history and statistics -----------------------------------------------------------------

  async function loadHistory() {
    const payload = await api("GET", `/api/sync/history?limit=${HISTORY_SIZE}`);
    const body = $("history").querySelector("tbody");
    body.replaceChildren();
    for (const sync of payload.data) {
      const row = el("tr");
      row.append(el("td", formatTime(sync.startedAt || sync.updatedAt, true)));
      const status = el("td");
      status.append(badge(sync.status));
      row.append(status);
      row.append(el("td", formatDuration(durationOf(sync))));
      row.append(el("td", sync.totalCases, { class: "num" }));
      row.append(el("td", sync.trigger));
      body.append(row);
    }
    $("history-empty").hidden = payload.data.length > 0;
    $("history").hidden = payload.data.length === 0;
    return payload.data;
  }

  async function loadStatistics() {
    const { data } = await api("GET", "/api/sync/statistics");
    $("stat-total").textContent = String(data.total);
    $("stat-rate").textContent =
      data.successRate === null ? "—" : `${Math.round(data.successRate * 1000) / 10}%`;
    $("stat-duration").textContent = formatDuration(data.averageDurationSeconds);
    $("stat-cases").textContent = String(data.totalCases);
    const last = $("stat-last");
    last.replaceChildren();
    if (data.lastSync) {
      last.append(badge(data.lastSync.status));
      last.append(el("span", formatTime(data.lastSync.finishedAt || data.lastSync.updatedAt, true), { class: "when" }));
    } else {
      last.textContent = "—";
    }
  }

  // -- cases ----------------------------------------------------------------------------------

  async function loadCases() {
    const cursor = state.casesCursors[state.casesCursors.length - 1];
    const params = new URLSearchParams({ limit: String(CASES_PAGE_SIZE) });
    if (cursor) params.set("cursor", cursor);
    const payload = await api("GET", `/api/cases?${params}`);
    const body = $("cases").querySelector("tbody");
    body.replaceChildren();
    for (const item of payload.data) {
      const fields = item.normalized || {};
      const row = el("tr");
      row.append(el("td", item.claimId, { class: "mono" }));
      row.append(el("td", fields.sku || "—"));
      row.append(el("td", fields.reason || fields.reasonCode || fields.adjustmentType || "—"));
      row.append(el("td", formatMoney(fields.netAmount || fields.amountTotal), { class: "num" }));
      const status = el("td");
      status.append(badge(item.caseStatus));
      row.append(status);
      row.append(el("td", item.mcdeDocId || "—", { class: "mono" }));
      body.append(row);
    }
    state.casesNext = payload.meta ? payload.meta.nextCursor : null;
    const empty = payload.data.length === 0 && state.casesCursors.length === 1;
    $("cases-empty").hidden = !empty;
    $("cases").hidden = empty;
    $("cases-prev").disabled = state.casesCursors.length === 1;
    $("cases-next").disabled = !state.casesNext;
    $("cases-page").textContent = `Page ${state.casesCursors.length}`;
  }

  async function nextCases() {
    if (!state.casesNext) return;
    state.casesCursors.push(state.casesNext);
    await loadCases();
  }

  async function previousCases() {
    if (state.casesCursors.length > 1) state.casesCursors.pop();
    await loadCases();
  }

  // -- chart ----------------------------------------------------------------------------------

  async function loadChart() {
    const claims = [];
    let cursor = null;
    for (let page = 0; page < CHART_MAX_PAGES; page += 1) {
      const params = new URLSearchParams({ limit: "500" });
      if (cursor) params.set("cursor", cursor);
      const payload = await api("GET", `/api/amazon/claims?${params}`);
      claims.push(...payload.data);
      cursor = payload.meta ? payload.meta.nextCursor : null;
      if (!cursor) break;
    }
    renderChart(claims, Boolean(cursor));
  }

  function monthKey(date) {
    return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
  }

  function renderChart(claims, truncated) {
    const byCurrency = new Map();
    for (const claim of claims) {
      if (!claim.amount || !claim.approvedAt) continue;
      const list = byCurrency.get(claim.amount.currency) || [];
      list.push(claim);
      byCurrency.set(claim.amount.currency, list);
    }
    const container = $("chart");
    container.replaceChildren();
    if (byCurrency.size === 0) {
      $("chart-note").textContent = "No reimbursements yet.";
      return;
    }
    // One currency per chart: the one with the most claims.
    const [currency, rows] = [...byCurrency.entries()].sort((a, b) => b[1].length - a[1].length)[0];
    const totals = new Map();
    let latest = null;
    for (const claim of rows) {
      const at = new Date(claim.approvedAt);
      if (Number.isNaN(at.getTime())) continue;
      const key = monthKey(at);
      totals.set(key, (totals.get(key) || 0) + claim.amount.amount);
      if (!latest || at > latest) latest = at;
    }
    if (!latest) {
      $("chart-note").textContent = "No reimbursements yet.";
      return;
    }
    const months = [];
    for (let i = CHART_MONTHS - 1; i >= 0; i -= 1) {
      const d = new Date(Date.UTC(latest.getUTCFullYear(), latest.getUTCMonth() - i, 1));
      months.push({ key: monthKey(d), date: d, total: totals.get(monthKey(d)) || 0 });
    }
    container.append(barChart(months, currency));
    const others = claims.length - rows.length;
    const notes = [`Net amount per month in ${currency}, reversals subtracted.`];
    if (others > 0) notes.push(`${others} claims in other currencies are not shown.`);
    if (truncated) notes.push(`Only the newest ${claims.length} claims are counted.`);
    $("chart-note").textContent = notes.join(" ");
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function barChart(months, currency) {
    const width = 560;
    const height = 240;
    const pad = { top: 16, right: 8, bottom: 34, left: 64 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const max = Math.max(1, ...months.map((m) => m.total));
    const min = Math.min(0, ...months.map((m) => m.total));
    const span = max - min;
    const y = (value) => pad.top + ((max - value) / span) * plotH;
    const monthName = (d) => d.toLocaleString(undefined, { month: "short", timeZone: "UTC" });
    const summary = months
      .filter((m) => m.total !== 0)
      .map((m) => `${monthName(m.date)} ${m.date.getUTCFullYear()}: ${formatMoney({ amount: m.total, currency })}`)
      .join("; ");
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": "chart-svg-title chart-svg-desc",
    });
    root.append(svg("title", { id: "chart-svg-title" }, `Reimbursed per month (${currency})`));
    root.append(svg("desc", { id: "chart-svg-desc" }, summary || "No reimbursements in these months."));
    for (const fraction of [0, 0.5, 1]) {
      const value = min + span * fraction;
      const lineY = y(value);
      root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: lineY, y2: lineY, class: "grid" }));
      root.append(
        svg("text", { x: pad.left - 6, y: lineY + 4, "text-anchor": "end" },
          formatMoney({ amount: Math.round(value), currency }, true)),
      );
    }
    const slot = plotW / months.length;
    const barW = Math.max(4, slot * 0.62);
    months.forEach((month, index) => {
      const x = pad.left + index * slot + (slot - barW) / 2;
      const top = y(Math.max(0, month.total));
      const bottom = y(Math.min(0, month.total));
      const bar = svg("rect", {
        x: x.toFixed(1),
        y: top.toFixed(1),
        width: barW.toFixed(1),
        height: Math.max(month.total === 0 ? 0 : 1, bottom - top).toFixed(1),
        rx: 2,
        class: month.total < 0 ? "bar negative" : "bar",
      });
      bar.append(svg("title", {}, `${monthName(month.date)} ${month.date.getUTCFullYear()}: ${formatMoney({ amount: month.total, currency })}`));
      root.append(bar);
      root.append(
        svg("text", { x: (x + barW / 2).toFixed(1), y: height - pad.bottom + 16, "text-anchor": "middle" },
          monthName(month.date)),
      );
    });
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }));
    return root;
  }

  // -- loading --------------------------------------------------------------------------------

  async function refreshAll() {
    if (!state.token) return;
    state.casesCursors = [null];
    const [history] = await Promise.all([
      loadHistory(),
      loadIntegrations(),
      loadStatistics(),
      loadCases(),
      loadChart(),
    ]);
    if (!state.sync && history.length > 0) showSync(history[0], "rest");
    if (!state.sync) renderSyncControls();
  }

  function boot() {
    takeTokenFromFragment();
    const oauth = takeOAuthResult();
    $("demo-button").addEventListener("click", guarded(demoSignIn));
    $("sign-out").addEventListener("click", () => signOut());
    $("sync-button").addEventListener("click", guarded(startSync));
    $("cancel-button").addEventListener("click", guarded(cancelSync));
    $("cases-next").addEventListener("click", guarded(nextCases));
    $("cases-prev").addEventListener("click", guarded(previousCases));
    for (const button of document.querySelectorAll('[data-action="connect"]')) {
      button.addEventListener("click", guarded(connect));
    }
    for (const button of document.querySelectorAll('[data-action="disconnect"]')) {
      button.addEventListener("click", guarded(disconnect));
    }
    announceOAuthResult(oauth);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      signIn(token).catch(reportError);
    } else {
      showSignedOut();
    }
  }

  boot();
})();

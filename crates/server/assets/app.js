// gridledger dashboard: reads the HTTP API of the server that serves it (/api/v1/...,
// docs/api.md#11-http-api) and draws the district's figures. No build step, no framework.
// The stable ids and data attributes browser tests use are listed at the top of index.html.
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------
  // Labels: zh-CN by default, English on request (kept in localStorage).

  const LANG_KEY = "gridledger.lang";
  const MESSAGES = {
    zh: {
      title: "网格治理数据看板", signout: "退出登录", signinTitle: "登录",
      signinHelp: "粘贴您的访问令牌（glt_…）。令牌只发送给本服务器，用于建立会话，不会保存在浏览器中。",
      token: "令牌", signin: "登录", category: "类别", allCategories: "全部类别",
      periodFrom: "起（报告日期）", periodTo: "止（不含）", asOf: "截至时点", now: "当前",
      downloadCsv: "下载 CSV", overview: "概览", asOfPosition: "日志位置", trend: "月度趋势",
      trendTable: "按月数据", month: "月份", breakdown: "分级统计", name: "名称",
      noLowerLevel: "网格是最小单元，没有下一级。", categoryBreakdown: "按类别",
      backlog: "积案（按时长）", overdueList: "超期未办结事项",
      overdueNote: "列表为当前状态：开放中且已过期限的事项，最久超期者在前。",
      back: "← 返回概览", status: "状态", history: "办理过程",
      footer: "数据来自本节点的事件日志；每个数字均由日志折叠计算。",
      accepted: "受理", closed: "办结", closure_rate: "办结率", deliberation_meetings: "议事、会商",
      participants: "参与人次", satisfaction_rate: "满意率", on_time_closure_rate: "按期办结率",
      reopen_rate: "返工率", time_to_close_p50_hours: "办结用时（中位数）",
      time_to_close_p90_hours: "办结用时（P90）", overdue_open: "超期未办结",
      aging_under_7_days: "7 天以内", aging_7_to_30_days: "7–30 天", aging_30_to_90_days: "30–90 天",
      aging_over_90_days: "90 天以上", everything: "全部", signedInAs: "已登录：",
      asOfNote: "（截至所选时点）", hours: "小时", daysOverdue: "超期 {n} 天", due: "期限",
      chainOk: "哈希链校验通过：每个事件都与日志和本事项的链相连。",
      chainBroken: "哈希链校验未通过：", loading: "加载中…", none: "无",
      where: "位置", reported: "上报时间", reporter: "上报人", revision: "版本", assignee: "承办人",
      resolutionLevel: "办结层级", lastEvaluation: "最近评价", lastResolvedAt: "办结时间",
      afterEvent: "之后", actor: "操作人", position: "位置",
      location: "定位", accuracy: "精度 ±{n} 米", evidence: "照片、视频", photo: "照片", video: "视频",
      playVideo: "▶ 播放视频", openFile: "打开文件",
      coordinateSystems: { WGS84: "WGS-84（GPS）", GCJ02: "GCJ-02（国测局）", BD09: "BD-09（百度）" },
      levels: { street: "街道", community: "社区", grid: "网格" },
      statuses: {
        REPORTED: "已上报", IN_PROGRESS: "办理中", IN_DELIBERATION: "议事中", ESCALATED: "已上报指导委",
        RESOLVED: "已办结", REOPENED: "已返工", WITHDRAWN: "已撤回",
      },
      events: {
        IssueReported: "上报", IssueHandledInGrid: "网格内办结", IssueDispatched: "派单",
        AssignmentAccepted: "接单", DeliberationConvened: "召集议事", DeliberationConcluded: "议事完成",
        IssueEscalated: "上报指导委", CommitteeDecisionRecorded: "指导委决定", IssueResolved: "办结",
        ResolutionEvaluated: "评价", IssueReopened: "返工", IssueWithdrawn: "撤回",
      },
    },
    en: {
      title: "Grid governance dashboard", signout: "Sign out", signinTitle: "Sign in",
      signinHelp: "Paste your access token (glt_…). It goes to this server only, to open a session; the browser does not keep it.",
      token: "Token", signin: "Sign in", category: "Category", allCategories: "All categories",
      periodFrom: "From (report date)", periodTo: "To (exclusive)", asOf: "As of", now: "Now",
      downloadCsv: "Download CSV", overview: "Overview", asOfPosition: "Log position", trend: "Monthly trend",
      trendTable: "Figures by month", month: "Month", breakdown: "Breakdown", name: "Name",
      noLowerLevel: "A grid is the smallest unit: there is no level below.", categoryBreakdown: "By category",
      backlog: "Open backlog by age", overdueList: "Overdue open issues",
      overdueNote: "As they stand now: open issues past their deadline, the longest overdue first.",
      back: "← Back to the overview", status: "Status", history: "History",
      footer: "Figures come from this node's event log; each is a fold of the log.",
      accepted: "Accepted", closed: "Closed", closure_rate: "Closure rate", deliberation_meetings: "Meetings",
      participants: "Participants", satisfaction_rate: "Satisfaction", on_time_closure_rate: "On-time closure",
      reopen_rate: "Reopen rate", time_to_close_p50_hours: "Time to close (p50)",
      time_to_close_p90_hours: "Time to close (p90)", overdue_open: "Overdue open",
      aging_under_7_days: "Under 7 days", aging_7_to_30_days: "7–30 days", aging_30_to_90_days: "30–90 days",
      aging_over_90_days: "90 days or more", everything: "Everything", signedInAs: "Signed in: ",
      asOfNote: "(as of the chosen time)", hours: "h", daysOverdue: "{n} days overdue", due: "due",
      chainOk: "Hash chains verified: every event is linked into the log's chain and the issue's.",
      chainBroken: "Hash chain check failed: ", loading: "Loading…", none: "none",
      where: "Where", reported: "Reported", reporter: "Reporter", revision: "Revision", assignee: "Assignee",
      resolutionLevel: "Resolution level", lastEvaluation: "Last evaluation", lastResolvedAt: "Resolved at",
      afterEvent: "after", actor: "actor", position: "position",
      location: "Location", accuracy: "accuracy ±{n} m", evidence: "Photos and videos", photo: "Photo",
      video: "Video", playVideo: "▶ Play the video", openFile: "Open the file",
      coordinateSystems: { WGS84: "WGS-84 (GPS)", GCJ02: "GCJ-02 (China)", BD09: "BD-09 (Baidu)" },
      levels: { street: "Street", community: "Community", grid: "Grid" },
      statuses: {
        REPORTED: "Reported", IN_PROGRESS: "In progress", IN_DELIBERATION: "In deliberation",
        ESCALATED: "Escalated", RESOLVED: "Resolved", REOPENED: "Reopened", WITHDRAWN: "Withdrawn",
      },
      events: {
        IssueReported: "Reported", IssueHandledInGrid: "Handled in the grid", IssueDispatched: "Dispatched",
        AssignmentAccepted: "Assignment accepted", DeliberationConvened: "Deliberation convened",
        DeliberationConcluded: "Deliberation concluded", IssueEscalated: "Escalated",
        CommitteeDecisionRecorded: "Committee decision", IssueResolved: "Resolved",
        ResolutionEvaluated: "Evaluated", IssueReopened: "Reopened", IssueWithdrawn: "Withdrawn",
      },
    },
  };

  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";

  function t(key) {
    const value = MESSAGES[lang][key];
    return value === undefined ? key : value;
  }

  function applyLanguage() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.title = t("title") + " · gridledger";
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    byId("lang-toggle").textContent = lang === "en" ? "中文" : "English";
  }

  // ---------------------------------------------------------------------------------
  // Small helpers.

  function byId(id) {
    return document.getElementById(id);
  }

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children || []) {
      node.append(child);
    }
    return node;
  }

  const RATE_FIGURES = new Set(["closure_rate", "satisfaction_rate", "on_time_closure_rate", "reopen_rate"]);
  const HOUR_FIGURES = new Set(["time_to_close_p50_hours", "time_to_close_p90_hours"]);

  // A figure as shown: counts as the JSON has them, rates as percentages with one decimal,
  // hours with one decimal.
  function formatFigure(name, value) {
    if (value === undefined || value === null) return "–";
    if (RATE_FIGURES.has(name)) return (value * 100).toFixed(1) + "%";
    if (HOUR_FIGURES.has(name)) return value.toFixed(1) + " " + t("hours");
    return String(value);
  }

  // Writes a figure into `node`, its raw value in data-value.
  function showFigure(node, name, value) {
    node.textContent = formatFigure(name, value);
    node.dataset.value = value === undefined || value === null ? "" : String(value);
  }

  // An instant as a local time of the district (the registry's time_zone): the zone the
  // as-of and period fields are read in, whatever the browser's own zone.
  function formatTime(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    const options = { hour12: false };
    if (state.timeZone) options.timeZone = state.timeZone;
    try {
      return date.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", options);
    } catch (_) {
      // A zone this browser does not know: its own.
      return date.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
    }
  }

  // ---------------------------------------------------------------------------------
  // The API: every call with the session cookie (same origin), never a token in a URL.

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  async function call(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options || {}));
    if (response.status === 401) {
      showSignIn();
    }
    if (!response.ok) {
      let code = "HTTP_" + response.status;
      let message = response.statusText;
      let field = null;
      try {
        const body = await response.json();
        if (body && body.error) {
          code = body.error.code;
          message = body.error.message;
          field = body.error.field;
        }
      } catch (_) {
        // Not JSON: keep the status.
      }
      throw new ApiError(response.status, code, message, field);
    }
    return response;
  }

  async function getJson(url) {
    return (await call(url)).json();
  }

  function showError(error) {
    const banner = byId("error-banner");
    if (!error) {
      banner.hidden = true;
      banner.textContent = "";
      delete banner.dataset.code;
      delete banner.dataset.field;
      return;
    }
    if (error instanceof ApiError && error.status === 401) return; // the sign-in panel says it
    banner.hidden = false;
    banner.dataset.code = error.code || "ERROR";
    banner.dataset.field = error.field || "";
    banner.textContent = (error.code ? error.code + ": " : "") + error.message;
  }

  // ---------------------------------------------------------------------------------
  // State: the scope (drill-down), the filters, and the registry's names.

  const state = {
    scope: "",
    principal: null,
    names: new Map(), // code -> display name (jurisdictions and categories)
    timeZone: null, // the district's IANA zone, from the registry
    categories: [],
    sort: { key: null, descending: true },
    breakdownRows: [],
    generation: 0,
  };

  function filters() {
    const parameters = new URLSearchParams();
    if (state.scope) parameters.set("scope", state.scope);
    const category = byId("category").value;
    if (category) parameters.set("category", category);
    const from = byId("period-from").value;
    if (from) parameters.set("period_start", from);
    const to = byId("period-to").value;
    if (to) parameters.set("period_end", to);
    const asOf = byId("as-of").value;
    if (asOf) parameters.set("as_of", asOf);
    return parameters;
  }

  function url(path, extra) {
    const parameters = filters();
    for (const [name, value] of Object.entries(extra || {})) {
      if (value === null) parameters.delete(name);
      else parameters.set(name, value);
    }
    const query = parameters.toString();
    return query ? path + "?" + query : path;
  }

  function levelOf(code) {
    if (!code) return 0;
    return code.split(".").length;
  }

  // The grouping of the level below `scope`: street under a district (or everything),
  // community under a street, grid under a community; none under a grid.
  function childLevel(scope) {
    return [
      "street", // everything
      "street", // a district
      "community", // a street
      "grid", // a community
      null, // a grid
    ][levelOf(scope)];
  }

  function nameOf(code) {
    const name = state.names.get(code);
    return name ? name + " (" + code + ")" : code;
  }

  // ---------------------------------------------------------------------------------
  // Sign-in.

  function showSignIn() {
    byId("signin").hidden = false;
    byId("app").hidden = true;
  }

  async function signIn(event) {
    event.preventDefault();
    const input = byId("signin-token");
    const errorText = byId("signin-error");
    errorText.hidden = true;
    try {
      const response = await fetch("/session", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: input.value.trim() }),
      });
      input.value = "";
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        errorText.textContent = body && body.error ? body.error.message : response.statusText;
        errorText.hidden = false;
        return;
      }
      byId("signin").hidden = true;
      await start();
    } catch (error) {
      errorText.textContent = String(error.message || error);
      errorText.hidden = false;
    }
  }

  async function signOut() {
    await fetch("/session/logout", { method: "POST", credentials: "same-origin" });
    state.principal = null;
    byId("whoami").hidden = true;
    byId("signout").hidden = true;
    showSignIn();
  }

  // ---------------------------------------------------------------------------------
  // The overview.

  const HEADLINE = [
    "accepted", "closed", "closure_rate", "deliberation_meetings", "participants", "satisfaction_rate",
    "on_time_closure_rate", "reopen_rate", "time_to_close_p50_hours", "time_to_close_p90_hours",
    "overdue_open", "aging_under_7_days", "aging_7_to_30_days", "aging_30_to_90_days", "aging_over_90_days",
  ];
  const TABLE_FIGURES = [
    "accepted", "closed", "closure_rate", "deliberation_meetings", "participants", "satisfaction_rate",
    "on_time_closure_rate", "overdue_open",
  ];
  const OPEN_STATUSES = ["REPORTED", "IN_PROGRESS", "IN_DELIBERATION", "ESCALATED", "REOPENED"];

  function drawFigures(stats) {
    for (const name of HEADLINE) {
      for (const node of document.querySelectorAll('#view-overview .figures [data-figure="' + name + '"]')) {
        showFigure(node, name, stats[name]);
      }
    }
    const position = byId("as-of-position");
    position.textContent = String(stats.as_of_position);
    position.dataset.value = String(stats.as_of_position);
    byId("as-of-note").textContent = byId("as-of").value ? t("asOfNote") : "";
  }

  function drawScope() {
    const title = byId("scope-title");
    title.dataset.scope = state.scope;
    title.textContent = state.scope ? nameOf(state.scope) : t("everything");
    const crumbs = byId("breadcrumb");
    crumbs.replaceChildren();
    const path = [""];
    if (state.scope) {
      const parts = state.scope.split(".");
      for (let index = 1; index <= parts.length; index += 1) {
        path.push(parts.slice(0, index).join("."));
      }
    }
    path.forEach((code, index) => {
      if (index > 0) crumbs.append(" › ");
      const label = code ? nameOf(code) : t("everything");
      if (code === state.scope) {
        crumbs.append(element("span", { "data-crumb": code, "aria-current": "page", text: label }));
      } else {
        crumbs.append(element("a", { href: code ? "#/scope/" + code : "#/", "data-crumb": code, text: label }));
      }
    });
  }

  let chart = null;

  function monthStart(key) {
    const [year, month] = key.split("-").map(Number);
    return Date.UTC(year, (month || 1) - 1, 1) / 1000;
  }

  function drawTrend(rows) {
    const months = rows.map((row) => row.key);
    const accepted = rows.map((row) => row.stats.accepted);
    const closed = rows.map((row) => row.stats.closed);
    const rates = rows.map((row) => row.stats.closure_rate * 100);
    const body = byId("trend-table").tBodies[0];
    body.replaceChildren();
    for (const row of rows) {
      const cells = ["accepted", "closed", "closure_rate"].map((name) => {
        const cell = element("td", { "data-figure": name });
        showFigure(cell, name, row.stats[name]);
        return cell;
      });
      body.append(element("tr", { "data-month": row.key }, [element("th", { text: row.key, scope: "row" })].concat(cells)));
    }
    const container = byId("trend-chart");
    if (chart) {
      chart.destroy();
      chart = null;
    }
    container.replaceChildren();
    if (typeof uPlot === "undefined" || rows.length === 0) {
      if (rows.length === 0) container.append(element("p", { class: "muted", text: t("none") }));
      return;
    }
    const xs = months.map(monthStart);
    const options = {
      width: Math.max(320, container.clientWidth || 800),
      height: 280,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      scales: { x: { time: true }, count: {}, rate: { range: [0, 100] } },
      series: [
        { label: t("month"), value: (_, seconds) => (seconds == null ? "–" : months[xs.indexOf(seconds)] || "") },
        { label: t("accepted"), scale: "count", stroke: "#1f6feb", width: 2 },
        { label: t("closed"), scale: "count", stroke: "#2da44e", width: 2 },
        {
          label: t("closure_rate"), scale: "rate", stroke: "#d4a72c", width: 2, dash: [6, 4],
          value: (_, value) => (value == null ? "–" : value.toFixed(1) + "%"),
        },
      ],
      axes: [
        {},
        { scale: "count" },
        { scale: "rate", side: 1, grid: { show: false }, values: (_, ticks) => ticks.map((tick) => tick + "%") },
      ],
    };
    chart = new uPlot(options, [xs, accepted, closed, rates], container);
  }

  function sortRows(rows) {
    const { key, descending } = state.sort;
    if (!key) return rows;
    const sorted = rows.slice();
    sorted.sort((a, b) => {
      const left = key === "key" ? a.key : a.stats[key];
      const right = key === "key" ? b.key : b.stats[key];
      const order = left < right ? -1 : left > right ? 1 : 0;
      return descending ? -order : order;
    });
    return sorted;
  }

  function drawBreakdown() {
    const level = childLevel(state.scope);
    const table = byId("breakdown");
    byId("breakdown-empty").hidden = level !== null;
    table.hidden = level === null;
    for (const header of table.tHead.rows[0].cells) {
      const sorting = header.dataset.sort === state.sort.key;
      header.setAttribute("aria-sort", sorting ? (state.sort.descending ? "descending" : "ascending") : "none");
    }
    const body = table.tBodies[0];
    body.replaceChildren();
    if (level === null) return;
    body.dataset.level = level;
    for (const row of sortRows(state.breakdownRows)) {
      const drill = element("button", { type: "button", class: "link", "data-drill": row.key, text: nameOf(row.key) });
      const cells = TABLE_FIGURES.map((name) => {
        const cell = element("td", { "data-figure": name });
        showFigure(cell, name, row.stats[name]);
        return cell;
      });
      const attributes = { "data-key": row.key, "data-level": level };
      attributes["data-" + level] = row.key;
      body.append(element("tr", attributes, [element("th", { scope: "row" }, [drill])].concat(cells)));
    }
  }

  function drawCategories(rows) {
    const body = byId("categories").tBodies[0];
    body.replaceChildren();
    for (const row of rows) {
      const cells = ["accepted", "closed", "closure_rate", "satisfaction_rate", "overdue_open"].map((name) => {
        const cell = element("td", { "data-figure": name });
        showFigure(cell, name, row.stats[name]);
        return cell;
      });
      body.append(element("tr", { "data-category": row.key }, [element("th", { scope: "row", text: nameOf(row.key) })].concat(cells)));
    }
  }

  // Open issues past their deadline, from the issue list (every open status, every page).
  async function overdueIssues() {
    const now = Date.now();
    const found = [];
    for (const status of OPEN_STATUSES) {
      let token = "";
      for (let page = 0; page < 20; page += 1) {
        const parameters = new URLSearchParams({ status: status, page_size: "500" });
        if (state.scope) parameters.set("scope", state.scope);
        const category = byId("category").value;
        if (category) parameters.set("category", category);
        if (token) parameters.set("page_token", token);
        const answer = await getJson("/api/v1/issues?" + parameters.toString());
        for (const issue of answer.issues) {
          if (issue.due_at && Date.parse(issue.due_at) < now) found.push(issue);
        }
        token = answer.next_page_token;
        if (!token) break;
      }
    }
    found.sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
    return found;
  }

  function drawOverdue(issues) {
    const count = byId("overdue-count");
    count.textContent = String(issues.length);
    count.dataset.value = String(issues.length);
    const list = byId("overdue-list");
    list.replaceChildren();
    const now = Date.now();
    for (const issue of issues.slice(0, 200)) {
      const days = Math.floor((now - Date.parse(issue.due_at)) / 86400000);
      const link = element("a", { href: "#/issues/" + issue.issue_id, "data-issue-link": issue.issue_id, text: issue.title });
      const detail = element("span", {
        class: "muted",
        text: " · " + nameOf(issue.grid_code) + " · " + (t("statuses")[issue.status] || issue.status) + " · " +
          t("daysOverdue").replace("{n}", String(days)),
      });
      list.append(element("li", { "data-issue": issue.issue_id, "data-due-at": issue.due_at }, [link, detail]));
    }
  }

  // Empties every figure and table of the overview, so that a view that failed shows its
  // error and nothing else (never the previous scope's figures under the new scope's title).
  function clearOverview() {
    for (const node of document.querySelectorAll("#view-overview .figures [data-figure]")) {
      showFigure(node, node.dataset.figure, null);
    }
    const position = byId("as-of-position");
    position.textContent = "";
    delete position.dataset.value;
    byId("as-of-note").textContent = "";
    drawTrend([]);
    state.breakdownRows = [];
    drawBreakdown();
    drawCategories([]);
    const count = byId("overdue-count");
    count.textContent = "–";
    delete count.dataset.value;
    byId("overdue-list").replaceChildren();
  }

  async function drawOverview() {
    const generation = ++state.generation;
    showError(null);
    drawScope();
    const level = childLevel(state.scope);
    try {
      const [stats, months, levelRows, categories] = await Promise.all([
        getJson(url("/api/v1/stats")),
        getJson(url("/api/v1/stats/breakdown", { group_by: "month" })),
        level ? getJson(url("/api/v1/stats/breakdown", { group_by: level })) : Promise.resolve({ rows: [] }),
        getJson(url("/api/v1/stats/breakdown", { group_by: "category" })),
      ]);
      if (generation !== state.generation) return;
      drawFigures(stats);
      drawTrend(months.rows);
      state.breakdownRows = levelRows.rows;
      drawBreakdown();
      drawCategories(categories.rows);
      const overdue = await overdueIssues();
      if (generation !== state.generation) return;
      drawOverdue(overdue);
    } catch (error) {
      if (generation === state.generation) {
        clearOverview();
        showError(error);
      }
    }
  }

  // ---------------------------------------------------------------------------------
  // An issue and its history.

  // The fields of an event body shown apart from its summary: where, and photos and videos.
  const SHOWN_APART = new Set(["issue_id", "description", "location", "evidence"]);

  // What an event says, in a few words, from its body (the proto field names).
  function eventSummary(body) {
    if (!body) return "";
    const [kind] = Object.keys(body);
    const value = body[kind] || {};
    const parts = [];
    for (const [name, field] of Object.entries(value)) {
      if (field === "" || field === null || field === 0 || (Array.isArray(field) && field.length === 0)) continue;
      if (SHOWN_APART.has(name)) continue;
      parts.push(name + ": " + (Array.isArray(field) ? field.join(", ") : String(field)));
    }
    return parts.join(" · ");
  }

  // A location as text, exactly as reported (no conversion between coordinate systems, no
  // map): latitude, longitude, coordinate system, accuracy and address.
  function formatLocation(where) {
    if (!where) return "";
    const parts = [Number(where.latitude).toFixed(6) + ", " + Number(where.longitude).toFixed(6)];
    const system = where.coordinate_system;
    if (system && system !== "COORDINATE_SYSTEM_UNSPECIFIED") parts.push(t("coordinateSystems")[system] || system);
    if (where.accuracy_m !== undefined && where.accuracy_m !== null) {
      parts.push(t("accuracy").replace("{n}", String(where.accuracy_m)));
    }
    if (where.address) parts.push(where.address);
    return parts.join(" · ");
  }

  // A size in bytes, in B, KB or MB.
  function formatSize(bytes) {
    const size = Number(bytes) || 0;
    if (size < 1024) return size + " B";
    if (size < 1024 * 1024) return (size / 1024).toFixed(1) + " KB";
    return (size / (1024 * 1024)).toFixed(1) + " MB";
  }

  // The hex of a `bytes` field as the JSON has it (base64).
  function hexOf(base64) {
    const binary = atob(String(base64 || "").replace(/-/g, "+").replace(/_/g, "/"));
    let hex = "";
    for (let index = 0; index < binary.length; index++) {
      hex += binary.charCodeAt(index).toString(16).padStart(2, "0");
    }
    return hex;
  }

  // An event's photos (small thumbnails, loaded lazily) and videos (links), each read from
  // this server through the issue (GET /api/v1/issues/<id>/evidence/<sha256>, with the
  // session cookie), with its media type and size.
  function evidenceList(issueId, refs) {
    const list = element("ul", { class: "evidence", "aria-label": t("evidence") });
    for (const ref of refs) {
      const hex = hexOf(ref.sha256);
      const href = "/api/v1/issues/" + encodeURIComponent(issueId) + "/evidence/" + hex;
      const mediaType = ref.media_type || "";
      const caption = mediaType + " · " + formatSize(ref.size);
      let shown;
      if (mediaType.startsWith("image/")) {
        shown = element("a", { href, target: "_blank", rel: "noopener" }, [
          element("img", {
            src: href, loading: "lazy", class: "thumb", width: "96", height: "96",
            alt: t("photo") + " " + hex.slice(0, 12) + " (" + caption + ")",
          }),
        ]);
      } else if (mediaType.startsWith("video/")) {
        shown = element("a", { href, target: "_blank", rel: "noopener", class: "video", text: t("playVideo") });
      } else {
        shown = element("a", { href, target: "_blank", rel: "noopener", text: t("openFile") });
      }
      list.append(element("li", { "data-sha256": hex, "data-media-type": mediaType }, [
        shown,
        element("span", { class: "muted", text: caption }),
      ]));
    }
    return list;
  }

  function field(list, label, value) {
    if (value === undefined || value === null || value === "") return;
    list.append(element("dt", { text: label }), element("dd", { text: value }));
  }

  async function drawIssue(issueId) {
    const generation = ++state.generation;
    showError(null);
    const timeline = byId("timeline");
    timeline.replaceChildren(element("li", { class: "muted", text: t("loading") }));
    try {
      const answer = await getJson("/api/v1/issues/" + encodeURIComponent(issueId));
      if (generation !== state.generation) return;
      const issue = answer.issue;
      byId("issue-title").textContent = issue.title;
      const status = byId("issue-status");
      status.textContent = t("statuses")[issue.status] || issue.status;
      status.dataset.value = issue.status;
      const fields = byId("issue-fields");
      fields.replaceChildren();
      field(fields, "ID", issue.issue_id);
      field(fields, t("where"), nameOf(issue.grid_code));
      if (issue.location) field(fields, t("location"), formatLocation(issue.location));
      field(fields, t("category"), nameOf(issue.category));
      field(fields, t("reported"), formatTime(issue.reported_at));
      field(fields, t("reporter"), issue.reporter_id);
      field(fields, t("due"), formatTime(issue.due_at));
      if (issue.assignment) field(fields, t("assignee"), issue.assignment.assignee_id);
      if (issue.resolution_level && issue.resolution_level !== "RESOLUTION_LEVEL_UNSPECIFIED") {
        field(fields, t("resolutionLevel"), issue.resolution_level);
      }
      if (issue.last_resolved_at) field(fields, t("lastResolvedAt"), formatTime(issue.last_resolved_at));
      if (issue.last_evaluation) field(fields, t("lastEvaluation"), issue.last_evaluation.satisfaction);
      field(fields, t("revision"), String(issue.revision));
      const chainStatus = byId("chain-status");
      chainStatus.dataset.ok = String(answer.chain_ok);
      chainStatus.className = "chain " + (answer.chain_ok ? "ok" : "broken");
      const broken = answer.history.filter((entry) => !entry.chain_ok);
      chainStatus.textContent = answer.chain_ok
        ? t("chainOk")
        : t("chainBroken") + broken.map((entry) => "#" + entry.position + ": " + entry.chain_status).join("; ");
      timeline.replaceChildren();
      for (const entry of answer.history) {
        const after = entry.state ? entry.state.status : "";
        const head = element("div", { class: "event-head" }, [
          element("strong", { text: (t("events")[entry.event_type] || entry.event_type) }),
          element("span", { class: "muted", text: " · " + formatTime(entry.occurred_at) }),
          element("span", { class: "status", text: " → " + (t("statuses")[after] || after) }),
        ]);
        const summary = element("div", { class: "event-body", text: eventSummary(entry.event) });
        const body = entry.event ? Object.values(entry.event)[0] || {} : {};
        const apart = [];
        if (body.location) {
          apart.push(element("div", {
            class: "event-location",
            text: t("location") + ": " + formatLocation(body.location),
          }));
        }
        if (Array.isArray(body.evidence) && body.evidence.length > 0) {
          apart.push(evidenceList(issue.issue_id, body.evidence));
        }
        const meta = element("div", {
          class: "event-meta muted",
          text: t("position") + " " + entry.position + " · " + t("revision") + " " + entry.revision +
            (entry.actor_id ? " · " + t("actor") + " " + entry.actor_id : "") + " · " +
            entry.hash.slice(0, 16) + "… · " + (entry.chain_ok ? "✓" : "✗ " + entry.chain_status),
        });
        timeline.append(element("li", {
          "data-position": String(entry.position),
          "data-revision": String(entry.revision),
          "data-event-type": entry.event_type,
          "data-status-after": after,
          "data-chain-ok": String(entry.chain_ok),
          class: entry.chain_ok ? "" : "broken",
        }, [head, summary, ...apart, meta]));
      }
    } catch (error) {
      if (generation === state.generation) {
        // Nothing of an issue shown before stays under the error.
        byId("issue-title").textContent = "";
        const status = byId("issue-status");
        status.textContent = "";
        delete status.dataset.value;
        byId("issue-fields").replaceChildren();
        const chainStatus = byId("chain-status");
        chainStatus.textContent = "";
        chainStatus.className = "chain";
        delete chainStatus.dataset.ok;
        timeline.replaceChildren();
        showError(error);
      }
    }
  }

  // ---------------------------------------------------------------------------------
  // Routing: #/ (everything), #/scope/<code>, #/issues/<id>.

  function route() {
    const hash = location.hash || "#/";
    const issue = hash.match(/^#\/issues\/([^/?]+)$/);
    if (issue) {
      byId("view-overview").hidden = true;
      byId("view-issue").hidden = false;
      drawIssue(decodeURIComponent(issue[1]));
      return;
    }
    const scope = hash.match(/^#\/scope\/([a-z0-9.-]+)$/);
    state.scope = scope ? scope[1] : defaultScope();
    state.sort = { key: null, descending: true };
    byId("view-issue").hidden = true;
    byId("view-overview").hidden = false;
    drawOverview();
  }

  // With one scope, a principal starts at it; otherwise at everything it may read.
  function defaultScope() {
    const principal = state.principal;
    return principal && principal.scopes.length === 1 ? principal.scopes[0] : "";
  }

  function redraw() {
    if (!byId("view-issue").hidden) return;
    drawOverview();
  }

  // ---------------------------------------------------------------------------------
  // Download CSV: the API's CSV of what is on screen, fetched with the session cookie.

  async function downloadCsv() {
    let path;
    const issue = (location.hash || "").match(/^#\/issues\/([^/?]+)$/);
    if (issue) {
      path = "/api/v1/issues/" + issue[1] + "?format=csv";
    } else {
      const level = childLevel(state.scope);
      path = level
        ? url("/api/v1/stats/breakdown", { group_by: level, format: "csv" })
        : url("/api/v1/stats", { format: "csv" });
    }
    try {
      const response = await call(path);
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const match = disposition.match(/filename="([^"]+)"/);
      const link = element("a", { href: URL.createObjectURL(blob), download: match ? match[1] : "gridledger.csv" });
      link.dataset.source = path;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      showError(error);
    }
  }

  // ---------------------------------------------------------------------------------
  // Start.

  async function loadRegistry() {
    const registry = await getJson("/api/v1/registry");
    state.names = new Map();
    for (const section of ["districts", "streets", "communities", "grids"]) {
      for (const entry of registry[section] || []) state.names.set(entry.code, entry.display_name);
    }
    state.categories = registry.categories || [];
    const district = (registry.districts || [])[0];
    state.timeZone = district && district.time_zone ? district.time_zone : null;
    const select = byId("category");
    const chosen = select.value;
    select.replaceChildren(element("option", { value: "", "data-i18n": "allCategories", text: t("allCategories") }));
    for (const category of state.categories) {
      state.names.set(category.code, category.display_name);
      select.append(element("option", { value: category.code, text: category.display_name + " (" + category.code + ")" }));
    }
    select.value = chosen;
  }

  async function start() {
    showError(null);
    const session = await getJson("/session");
    if (session.auth && !session.principal) {
      showSignIn();
      return;
    }
    state.principal = session.principal;
    const who = byId("whoami");
    if (session.principal) {
      who.hidden = false;
      who.dataset.principal = session.principal.id;
      who.textContent = t("signedInAs") + session.principal.id + " (" + session.principal.role + ", " +
        session.principal.scopes.join(", ") + ")";
      byId("signout").hidden = session.via !== "session";
    }
    try {
      await loadRegistry();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      showError(error);
    }
    byId("signin").hidden = true;
    byId("app").hidden = false;
    route();
  }

  function sortBy(event) {
    const header = event.target.closest("th[data-sort]");
    if (!header) return;
    const key = header.dataset.sort;
    state.sort = state.sort.key === key
      ? { key: key, descending: !state.sort.descending }
      : { key: key, descending: key !== "key" };
    drawBreakdown();
  }

  function drill(event) {
    const button = event.target.closest("button[data-drill]");
    if (!button) return;
    location.hash = "#/scope/" + button.dataset.drill;
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyLanguage();
    byId("lang-toggle").addEventListener("click", () => {
      lang = lang === "en" ? "zh" : "en";
      localStorage.setItem(LANG_KEY, lang);
      applyLanguage();
      if (!byId("app").hidden) route();
    });
    byId("signin-form").addEventListener("submit", signIn);
    byId("signout").addEventListener("click", signOut);
    for (const id of ["category", "period-from", "period-to", "as-of"]) {
      byId(id).addEventListener("change", redraw);
    }
    byId("as-of-clear").addEventListener("click", () => {
      byId("as-of").value = "";
      redraw();
    });
    byId("download-csv").addEventListener("click", downloadCsv);
    byId("breakdown").tHead.addEventListener("click", sortBy);
    byId("breakdown").tBodies[0].addEventListener("click", drill);
    window.addEventListener("hashchange", () => {
      if (!byId("app").hidden) route();
    });
    window.addEventListener("resize", () => {
      if (chart) chart.setSize({ width: Math.max(320, byId("trend-chart").clientWidth), height: 280 });
    });
    start().catch(showError);
  });
})();

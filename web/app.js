// The storefront: plain JavaScript against the shop API on the same origin (no build step).
// Products and popular products need no login; topping up (a saved card, or the gateway's payment window),
// the cart and orders do. Locally the payment window is the sandbox's stand-in, POST /sandbox/payments.
"use strict";

const state = {
  token: sessionStorage.getItem("shop.token"),
  cursor: null,
  nextCursor: null,
  ordersCursor: null,
  /** The payment-window charge being followed; a newer one stops the older one's polling. */
  following: null,
};
/** How often the product page's stock is read again (only while the page is visible). */
const STOCK_REFRESH_MS = 10000;
/** Following a pending charge: the first wait, growing 1.5 times up to the longest, for at most this long. */
const POLL = { firstMs: 250, longestMs: 3000, forMs: 6 * 60 * 1000 };
const $ = (id) => document.getElementById(id);
const won = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
const fmt = (n) => won.format(n);

/** A problem+json answer (RFC 9457) as an error: its title, detail and code shown together. */
class Problem extends Error {
  constructor(status, problem) {
    const title = problem.title || "HTTP " + status;
    super(problem.detail ? `${title}: ${problem.detail}` : title);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || "HTTP_" + status;
  }
}

/** Calls the API; resolves to the JSON body, rejects with a Problem. */
async function api(method, path, body, extraHeaders) {
  const headers = { accept: "application/json", ...(extraHeaders || {}) };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = "Bearer " + state.token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Problem(r.status, data);
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const freshKey = () => crypto.randomUUID();

function say(text, isError, code) {
  const m = $("message");
  m.textContent = isError && code ? `${text} (${code})` : text;
  m.className = isError ? "error" : "";
  if (code) m.dataset.code = code;
  else delete m.dataset.code;
  m.hidden = false;
}

/** Runs an action, showing a problem (title, detail, code) when it fails. */
async function attempt(action) {
  try {
    await action();
  } catch (e) {
    say(e.message, true, e.code);
  }
}

function claims() {
  try {
    return JSON.parse(atob(state.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch (_) {
    return {};
  }
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (e.className = v) : e.setAttribute(k, v)));
  children.forEach((c) => e.append(c));
  return e;
}

function button(label, testid, onClick) {
  const b = el("button", { type: "button", "data-testid": testid }, label);
  b.addEventListener("click", () => attempt(onClick));
  return b;
}

async function showBalance() {
  const b = await api("GET", "/balance");
  $("balance").textContent = fmt(b.balance);
  $("balance").dataset.value = b.balance;
}

const loggedIn = () => Boolean(state.token);

/** The actions of a product row: buying needs a login, restocking the admin role. */
function productActions(p) {
  if (!loggedIn()) return [el("span", { class: "muted" }, "Log in to buy")];
  const qty = el("input", { type: "number", min: "1", max: "1000", value: "1", "data-testid": "qty-" + p.productId });
  qty.style.width = "4rem";
  const actions = [
    qty,
    button("Add to cart", "add-" + p.productId, async () => {
      await api("POST", "/cart/items", { productId: p.productId, quantity: Number(qty.value) });
      say("Added " + p.name + " to the cart.");
      await showCart();
    }),
    button("Buy now", "buy-" + p.productId, async () => {
      const o = await api("POST", "/orders", { items: [{ productId: p.productId, quantity: Number(qty.value) }] },
        { "idempotency-key": freshKey() });
      say("Ordered " + p.name + " for " + fmt(o.totalAmount) + ".");
      await refreshAfterOrder(o);
    }),
  ];
  if (claims().role === "admin") {
    actions.push(
      button("Restock", "restock-" + p.productId, async () => {
        const r = await api("POST", "/products/" + encodeURIComponent(p.productId) + "/restock",
          { quantity: Number($("restock-quantity").value) });
        say("Restocked " + r.name + ": " + r.stock + " in stock.");
        await showProducts(state.cursor);
      }),
    );
  }
  return actions;
}

function productsQuery(cursor) {
  return cursor ? "?limit=10&cursor=" + encodeURIComponent(cursor) : "?limit=10";
}

async function showProducts(cursor) {
  const page = await api("GET", "/products" + productsQuery(cursor));
  state.cursor = cursor;
  state.nextCursor = page.nextCursor;
  $("products-next").disabled = !page.nextCursor;
  $("products").querySelector("tbody").replaceChildren(
    ...page.items.map((p) =>
      el("tr", { "data-product": p.productId },
        el("td", { "data-testid": "name-" + p.productId }, p.name),
        el("td", { class: "num" }, fmt(p.price)),
        el("td", { class: "num", "data-testid": "stock-" + p.productId }, String(p.stock)),
        el("td", {}, ...productActions(p)))),
  );
}

/** Live stock: reads the shown page again and updates its stock cells in place (nothing else moves). */
async function refreshStock() {
  if (document.hidden) return;
  const page = await api("GET", "/products" + productsQuery(state.cursor));
  page.items.forEach((p) => {
    const cell = document.querySelector(`[data-testid="stock-${CSS.escape(p.productId)}"]`);
    if (cell && cell.textContent !== String(p.stock)) cell.textContent = String(p.stock);
  });
}

async function showPopular() {
  const p = await api("GET", "/products/popular");
  $("popular").replaceChildren(
    ...(p.items.length
      ? p.items.map((i) => el("li", { "data-testid": "popular-" + i.productId }, `${i.name}: ${i.soldQuantity} sold`))
      : [el("li", { class: "muted" }, "Nothing sold in the last 3 days.")]),
  );
}

/** The caller's saved cards: listed, and offered to pay with. */
async function showCards() {
  const { items } = await api("GET", "/payment-methods");
  $("cards").replaceChildren(
    ...(items.length
      ? items.map((c) =>
        el("li", { "data-method": c.paymentMethodId }, c.label + " ",
          button("Remove", "remove-card-" + c.paymentMethodId, async () => {
            await api("DELETE", "/payment-methods/" + encodeURIComponent(c.paymentMethodId));
            say("Removed " + c.label + ".");
            await showCards();
          })))
      : [el("li", { class: "muted" }, "No saved card yet.")]),
  );
  const chosen = $("charge-method").value;
  $("charge-cards").replaceChildren(
    ...items.map((c) => el("option", { value: c.paymentMethodId }, c.label)),
  );
  $("charge-cards").hidden = items.length === 0;
  if ([...$("charge-method").options].some((o) => o.value === chosen)) $("charge-method").value = chosen;
}

/** The sandbox's card-registration window: it authorises the card and hands the page an authKey. */
function sandboxAuthKey(outcome) {
  return outcome === "declined" ? "auth_declined" : "auth_" + freshKey().replace(/-/g, "");
}

async function registerCard() {
  const card = await api("POST", "/payment-methods", { authKey: sandboxAuthKey($("card-auth").value) },
    { "idempotency-key": freshKey() });
  await showCards();
  $("charge-method").value = card.paymentMethodId;
  say("Saved " + card.label + ".");
}

async function chargeSavedCard() {
  const r = await api("POST", "/balance/charge",
    { amount: Number($("charge-amount").value), paymentMethod: $("charge-method").value },
    { "idempotency-key": freshKey() });
  say("Topped up " + fmt(r.amount) + ".");
  await showBalance();
}

/** Shows where the payment-window charge stands (`data-status`: the charge's status, or ERROR: the confirm's problem). */
function windowStatus(chargeId, status, text) {
  const s = $("window-status");
  s.dataset.charge = chargeId;
  s.dataset.status = status;
  s.textContent = text;
  s.hidden = false;
}

const SETTLED = {
  CREDITED: (c) => ["Payment " + c.chargeId + " credited: topped up " + fmt(c.amount) + ".", false],
  FAILED: (c) => ["Payment " + c.chargeId + " failed: nothing was charged.", true],
  VOIDED: (c) => ["Payment " + c.chargeId + " was cancelled and refunded: nothing was charged.", true],
};

/** A settled charge: said, and the balance shown as it is now. */
async function settled(charge) {
  const [text, isError] = SETTLED[charge.status](charge);
  windowStatus(charge.chargeId, charge.status, text);
  say(text, isError, isError ? "CHARGE_" + charge.status : undefined);
  await showBalance();
}

/** Follows a pending charge until the service settles it (bounded backoff), then shows the outcome. */
async function follow(chargeId) {
  state.following = chargeId;
  const until = Date.now() + POLL.forMs;
  for (let wait = POLL.firstMs; Date.now() < until; wait = Math.min(wait * 1.5, POLL.longestMs)) {
    await sleep(wait);
    if (state.following !== chargeId || !loggedIn()) return;
    let charge;
    try {
      charge = await api("GET", "/balance/charges/" + encodeURIComponent(chargeId));
    } catch (e) {
      if (e.status >= 500 || e.status === 429) continue; // not final: ask again
      throw e;
    }
    if (SETTLED[charge.status]) return settled(charge);
  }
  windowStatus(chargeId, "PENDING", "Payment " + chargeId + " is still pending: it is settled by the shop; check again later.");
}

/** Tops up through the gateway's payment window: open a charge, pay in the window, confirm. */
async function payInWindow() {
  const amount = Number($("window-amount").value);
  const opened = await api("POST", "/balance/charges", { amount }, { "idempotency-key": freshKey() });
  windowStatus(opened.chargeId, "READY", "Paying " + fmt(amount) + " in the payment window...");
  // The window stand-in (local sandbox): it hands back the paymentKey a real window would.
  const paid = await api("POST", "/sandbox/payments",
    { orderId: opened.orderId, amount: opened.amount, card: $("window-card").value });
  let confirmed;
  try {
    confirmed = await api("POST", "/balance/charges/" + encodeURIComponent(opened.chargeId) + "/confirm",
      { paymentKey: paid.paymentKey, orderId: opened.orderId, amount: opened.amount },
      { "idempotency-key": freshKey() });
  } catch (e) {
    windowStatus(opened.chargeId, "ERROR", e.message);
    throw e;
  }
  if (confirmed.status === "CREDITED") return settled({ ...opened, status: "CREDITED" });
  windowStatus(opened.chargeId, "PENDING",
    "Payment " + opened.chargeId + " is pending at the gateway: waiting for its answer...");
  say("Payment pending: the balance is updated once the gateway answers.");
  await follow(opened.chargeId);
}

async function showCart() {
  const c = await api("GET", "/cart");
  $("cart-total").textContent = fmt(c.totalAmount);
  $("cart").querySelector("tbody").replaceChildren(
    ...c.items.map((i) =>
      el("tr", { "data-cart": i.productId },
        el("td", {}, i.name),
        el("td", { class: "num", "data-testid": "cart-qty-" + i.productId }, String(i.quantity)),
        el("td", { class: "num" }, fmt(i.amount)),
        el("td", {}, button("Remove", "remove-" + i.productId, async () => {
          await api("DELETE", "/cart/items/" + encodeURIComponent(i.productId));
          await showCart();
        }))),
    ),
  );
  $("order-cart").disabled = c.items.length === 0;
}

function orderLine(o) {
  return `${o.createdAt.replace("T", " ").replace("Z", "")} · ${o.items.length} line(s) · ${fmt(o.totalAmount)}`;
}

async function showOrders(more) {
  const q = more && state.ordersCursor ? "?limit=10&cursor=" + encodeURIComponent(state.ordersCursor) : "?limit=10";
  const page = await api("GET", "/orders" + q);
  state.ordersCursor = page.nextCursor;
  $("orders-more").hidden = !page.nextCursor;
  const items = page.items.map((o) => {
    const li = el("li", { "data-order": o.orderId }, orderLine(o));
    li.addEventListener("click", () => attempt(() => showOrder(o.orderId)));
    return li;
  });
  if (more) $("orders").append(...items);
  else $("orders").replaceChildren(...items);
}

async function showOrder(orderId) {
  const o = await api("GET", "/orders/" + encodeURIComponent(orderId));
  const d = $("order-detail");
  d.replaceChildren(
    el("h3", {}, "Order " + o.orderId),
    el("p", {}, `${o.status} · ${o.createdAt}`),
    el("table", {},
      ...o.items.map((i) =>
        el("tr", {}, el("td", {}, i.name), el("td", { class: "num" }, `${i.quantity} × ${fmt(i.unitPrice)}`),
          el("td", { class: "num" }, fmt(i.amount))))),
    el("p", { "data-testid": "order-total" }, "Total " + fmt(o.totalAmount)),
  );
  d.dataset.order = o.orderId;
  d.hidden = false;
}

async function refreshAfterOrder(order) {
  await Promise.all([showBalance(), showCart(), showProducts(state.cursor), showOrders(false), showPopular()]);
  await showOrder(order.orderId);
}

/** What anyone sees: products with their stock, and the popular ones. */
async function showCatalog() {
  await Promise.all([showProducts(state.cursor), showPopular()]);
}

async function enter() {
  const c = claims();
  $("auth").hidden = true;
  $("shop").hidden = false;
  $("session").hidden = false;
  $("whoami").textContent = c.role === "admin" ? "admin" : "user " + c.sub;
  $("admin").hidden = c.role !== "admin";
  await Promise.all([showBalance(), showCatalog(), showCards(), showCart(), showOrders(false)]);
}

function leave() {
  state.token = null;
  state.following = null;
  sessionStorage.removeItem("shop.token");
  $("auth").hidden = false;
  $("shop").hidden = true;
  $("session").hidden = true;
  $("window-status").hidden = true;
  attempt(showCatalog);
}

async function login(email, password) {
  const t = await api("POST", "/auth/login", { email, password });
  state.token = t.accessToken;
  sessionStorage.setItem("shop.token", state.token);
  await enter();
}

/** A form's submit runs `action` (and never reloads the page). */
function onSubmit(id, action) {
  $(id).addEventListener("submit", (e) => {
    e.preventDefault();
    attempt(action);
  });
}

onSubmit("signup-form", async () => {
  const email = $("signup-email").value;
  const password = $("signup-password").value;
  await api("POST", "/auth/signup", { email, password, name: $("signup-name").value });
  await login(email, password);
  say("Welcome! Top up your balance to start shopping.");
});
onSubmit("login-form", () => login($("login-email").value, $("login-password").value));
$("logout").addEventListener("click", leave);
onSubmit("card-form", registerCard);
onSubmit("charge-form", chargeSavedCard);
onSubmit("window-form", payInWindow);
$("order-cart").addEventListener("click", () =>
  attempt(async () => {
    const o = await api("POST", "/orders", { fromCart: true }, { "idempotency-key": freshKey() });
    say("Ordered the cart for " + fmt(o.totalAmount) + ".");
    await refreshAfterOrder(o);
  }));
$("products-first").addEventListener("click", () => attempt(() => showProducts(null)));
$("products-next").addEventListener("click", () => attempt(() => showProducts(state.nextCursor)));
$("orders-more").addEventListener("click", () => attempt(() => showOrders(true)));
onSubmit("product-form", async () => {
  const p = await api("POST", "/products", {
    name: $("product-name").value, price: Number($("product-price").value), stock: Number($("product-stock").value),
  });
  say("Created " + p.name + ".");
  await showProducts(null);
});

// A stored token that no longer works (expired, another secret) logs out; the catalog shows either way.
if (state.token) {
  enter().catch((e) => {
    leave();
    if (e.status !== 401) say(e.message, true, e.code);
  });
} else {
  attempt(showCatalog);
}
setInterval(() => refreshStock().catch(() => {}), STOCK_REFRESH_MS);

// The storefront: plain JavaScript against the shop API on the same origin (no build step).
"use strict";

const state = { token: sessionStorage.getItem("shop.token"), cursor: null, nextCursor: null, ordersCursor: null };
const $ = (id) => document.getElementById(id);
const won = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
const fmt = (n) => won.format(n);

/** Calls the API; resolves to the JSON body, rejects with the problem's detail. */
async function api(method, path, body, extraHeaders) {
  const headers = { accept: "application/json", ...(extraHeaders || {}) };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = "Bearer " + state.token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || data.title || "HTTP " + r.status);
    err.problem = data;
    throw err;
  }
  return data;
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
  m.hidden = false;
}

/** Runs an action, showing a problem's detail when it fails. */
async function attempt(action) {
  try {
    await action();
  } catch (e) {
    say(e.message, true);
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

async function showProducts(cursor) {
  const q = cursor ? "?limit=10&cursor=" + encodeURIComponent(cursor) : "?limit=10";
  const page = await api("GET", "/products" + q);
  state.cursor = cursor;
  state.nextCursor = page.nextCursor;
  $("products-next").disabled = !page.nextCursor;
  const body = $("products").querySelector("tbody");
  body.replaceChildren(
    ...page.items.map((p) => {
      const qty = el("input", { type: "number", min: "1", max: "1000", value: "1", "data-testid": "qty-" + p.productId });
      qty.style.width = "4rem";
      const cells = [
        el("td", { "data-testid": "name-" + p.productId }, p.name),
        el("td", { class: "num" }, fmt(p.price)),
        el("td", { class: "num", "data-testid": "stock-" + p.productId }, String(p.stock)),
        el(
          "td",
          {},
          qty,
          button("Add to cart", "add-" + p.productId, async () => {
            await api("POST", "/cart/items", { productId: p.productId, quantity: Number(qty.value) });
            say("Added " + p.name + " to the cart.");
            await showCart();
          }),
          button("Buy now", "buy-" + p.productId, async () => {
            const o = await api("POST", "/orders", { items: [{ productId: p.productId, quantity: Number(qty.value) }] },
              { "idempotency-key": crypto.randomUUID() });
            say("Ordered " + p.name + " for " + fmt(o.totalAmount) + ".");
            await refreshAfterOrder(o);
          }),
        ),
      ];
      if (claims().role === "admin") {
        cells[3].append(
          button("Restock", "restock-" + p.productId, async () => {
            const r = await api("POST", "/products/" + encodeURIComponent(p.productId) + "/restock",
              { quantity: Number($("restock-quantity").value) });
            say("Restocked " + r.name + ": " + r.stock + " in stock.");
            await showProducts(state.cursor);
          }),
        );
      }
      return el("tr", { "data-product": p.productId }, ...cells);
    }),
  );
}

async function showPopular() {
  const p = await api("GET", "/products/popular");
  $("popular").replaceChildren(
    ...(p.items.length
      ? p.items.map((i) => el("li", { "data-testid": "popular-" + i.productId }, `${i.name}: ${i.soldQuantity} sold`))
      : [el("li", { class: "muted" }, "Nothing sold in the last 3 days.")]),
  );
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

async function enter() {
  const c = claims();
  $("auth").hidden = true;
  $("shop").hidden = false;
  $("session").hidden = false;
  $("whoami").textContent = c.role === "admin" ? "admin" : "user " + c.sub;
  $("admin").hidden = c.role !== "admin";
  await Promise.all([showBalance(), showProducts(null), showPopular(), showCart(), showOrders(false)]);
}

function leave() {
  state.token = null;
  sessionStorage.removeItem("shop.token");
  $("auth").hidden = false;
  $("shop").hidden = true;
  $("session").hidden = true;
}

async function login(email, password) {
  const t = await api("POST", "/auth/login", { email, password });
  state.token = t.accessToken;
  sessionStorage.setItem("shop.token", state.token);
  await enter();
}

$("signup-form").addEventListener("submit", (e) => {
  e.preventDefault();
  attempt(async () => {
    const email = $("signup-email").value;
    const password = $("signup-password").value;
    await api("POST", "/auth/signup", { email, password, name: $("signup-name").value });
    await login(email, password);
    say("Welcome! Top up your balance to start shopping.");
  });
});
$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  attempt(() => login($("login-email").value, $("login-password").value));
});
$("logout").addEventListener("click", leave);
$("charge-form").addEventListener("submit", (e) => {
  e.preventDefault();
  attempt(async () => {
    const r = await api("POST", "/balance/charge",
      { amount: Number($("charge-amount").value), paymentMethod: $("charge-method").value },
      { "idempotency-key": crypto.randomUUID() });
    say("Topped up " + fmt(r.amount) + ".");
    await showBalance();
  });
});
$("order-cart").addEventListener("click", () =>
  attempt(async () => {
    const o = await api("POST", "/orders", { fromCart: true }, { "idempotency-key": crypto.randomUUID() });
    say("Ordered the cart for " + fmt(o.totalAmount) + ".");
    await refreshAfterOrder(o);
  }));
$("products-first").addEventListener("click", () => attempt(() => showProducts(null)));
$("products-next").addEventListener("click", () => attempt(() => showProducts(state.nextCursor)));
$("orders-more").addEventListener("click", () => attempt(() => showOrders(true)));
$("product-form").addEventListener("submit", (e) => {
  e.preventDefault();
  attempt(async () => {
    const p = await api("POST", "/products", {
      name: $("product-name").value, price: Number($("product-price").value), stock: Number($("product-stock").value),
    });
    say("Created " + p.name + ".");
    await showProducts(null);
  });
});

if (state.token) attempt(enter);

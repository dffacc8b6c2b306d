#!/usr/bin/env python3
"""Walks a full purchase through the storefront in headless Chromium (selenium, chromium-driver).

Run by functions/tests/api/storefront.rs, which serves the storefront, the API and the sandbox's payment window
(with a shortened late delay), seeds two products and one sale, and then checks everything this script reports
against the API. The walk: the catalog before logging in, sign up, a refused and a saved card, a top-up with the
saved card, a declined token, top-ups through the payment window (approved, then late: pending, then settled on
screen), cart, orders, history, popular. On failure it saves a screenshot.

Usage: storefront_test.py BASE_URL EMAIL PASSWORD PRODUCT_A PRODUCT_B SCREENSHOT_PATH
Prints one JSON object: what the page showed.
"""
import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

base, email, password, product_a, product_b, screenshot = sys.argv[1:7]

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 10)
# A late window payment is settled by the gateway's webhook after the test's late delay, then seen by polling.
settle_wait = WebDriverWait(driver, 20, poll_frequency=0.1)


def by_id(i):
    return driver.find_element(By.ID, i)


def testid(t):
    return wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'[data-testid="{t}"]')))


def message_contains(text):
    wait.until(ec.text_to_be_present_in_element((By.ID, "message"), text))
    return by_id("message")


def fill(i, value):
    e = by_id(i)
    e.clear()
    e.send_keys(value)


def css(selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def balance_is(value):
    wait.until(lambda d: by_id("balance").get_attribute("data-value") == str(value))


def window_status_is(status, waiting=wait):
    waiting.until(lambda d: by_id("window-status").get_attribute("data-status") == status)
    return by_id("window-status")


def find_product(product_id):
    """Follows the product pages until the product's row shows."""
    for _ in range(20):
        if css(f'[data-testid="stock-{product_id}"]'):
            return
        by_id("products-next").click()
    raise AssertionError(f"product {product_id} not listed")


seen = {}
try:
    # A visitor sees the products with their stock and the popular ones, and no buying.
    driver.get(base + "/")
    wait.until(ec.visibility_of_element_located((By.ID, "catalog")))
    find_product(product_b)
    wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, f'[data-testid="popular-{product_b}"]')))
    seen["visitorStockB"] = int(testid(f"stock-{product_b}").text)
    seen["visitorPopular"] = css(f'[data-testid="popular-{product_b}"]')[0].text
    seen["visitorCanBuy"] = bool(css(f'[data-testid="add-{product_b}"]'))
    seen["visitorSeesAuth"] = by_id("auth").is_displayed()

    fill("signup-name", "Browser")
    fill("signup-email", email)
    fill("signup-password", password)
    by_id("signup-form").submit()
    wait.until(ec.visibility_of_element_located((By.ID, "shop")))
    seen["authFormsHidden"] = not by_id("auth").is_displayed()

    # Saved cards: the card-registration window refuses one card, then authorises one; top up with it.
    Select(by_id("card-auth")).select_by_value("declined")
    by_id("card-form").submit()
    refused = message_contains("declined")
    seen["cardRefusedCode"] = refused.get_attribute("data-code")
    Select(by_id("card-auth")).select_by_value("approved")
    by_id("card-form").submit()
    message_contains("Saved")
    wait.until(lambda d: len(css("#cards li[data-method]")) == 1)
    seen["cardShown"] = css("#cards li[data-method]")[0].get_attribute("data-method")
    seen["cardChosen"] = Select(by_id("charge-method")).first_selected_option.get_attribute("value")
    fill("charge-amount", "100000")
    by_id("charge-form").submit()
    message_contains("Topped up")
    balance_is(100000)
    seen["balanceShownAfterTopUp"] = by_id("balance").text
    Select(by_id("charge-method")).select_by_value("tok_declined")
    by_id("charge-form").submit()
    declined = message_contains("declined")
    seen["declinedMessage"] = declined.text
    seen["declinedIsError"] = "error" in (declined.get_attribute("class") or "")
    seen["declinedCode"] = declined.get_attribute("data-code")

    # The payment window: approved at once, then a late payment that is pending and settles on screen.
    fill("window-amount", "20000")
    Select(by_id("window-card")).select_by_value("ok")
    by_id("window-form").submit()
    seen["windowOkCharge"] = window_status_is("CREDITED").get_attribute("data-charge")
    balance_is(120000)
    fill("window-amount", "30000")
    Select(by_id("window-card")).select_by_value("late")
    by_id("window-form").submit()
    pending = window_status_is("PENDING", settle_wait)
    seen["lateCharge"] = pending.get_attribute("data-charge")
    seen["latePendingText"] = pending.text
    seen["balanceWhilePending"] = int(by_id("balance").get_attribute("data-value"))
    settled = window_status_is("CREDITED", settle_wait)
    seen["lateSettledCharge"] = settled.get_attribute("data-charge")
    seen["lateSettledText"] = settled.text
    balance_is(150000)

    # Find product A (following pages if needed); add 2 of A and 1 of B; remove B.
    find_product(product_a)
    fill_qty = testid(f"qty-{product_a}")
    fill_qty.clear()
    fill_qty.send_keys("2")
    testid(f"add-{product_a}").click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f'[data-testid="cart-qty-{product_a}"]'), "2"))
    testid(f"add-{product_b}").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'[data-testid="cart-qty-{product_b}"]')))
    testid(f"remove-{product_b}").click()
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, f'[data-testid="cart-qty-{product_b}"]')))

    # Order the cart, then buy one A now.
    by_id("order-cart").click()
    message_contains("Ordered the cart")
    wait.until(ec.visibility_of_element_located((By.ID, "order-detail")))
    seen["cartOrderId"] = by_id("order-detail").get_attribute("data-order")
    seen["cartOrderTotal"] = driver.find_element(By.CSS_SELECTOR, '[data-testid="order-total"]').text
    testid(f"buy-{product_a}").click()
    message_contains(f"Ordered")
    wait.until(lambda d: by_id("order-detail").get_attribute("data-order") != seen["cartOrderId"])
    seen["buyNowOrderId"] = by_id("order-detail").get_attribute("data-order")

    # History, balance, stock and popular as the page shows them now.
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#orders li")) == 2)
    seen["ordersShown"] = [li.get_attribute("data-order") for li in driver.find_elements(By.CSS_SELECTOR, "#orders li")]
    wait.until(lambda d: by_id("balance").get_attribute("data-value") != "150000")
    seen["balanceShown"] = int(by_id("balance").get_attribute("data-value"))
    seen["stockShownA"] = int(testid(f"stock-{product_a}").text)
    seen["popularShown"] = driver.find_element(By.CSS_SELECTOR, f'[data-testid="popular-{product_a}"]').text
    # Open the first order of the history: its detail.
    driver.find_elements(By.CSS_SELECTOR, "#orders li")[-1].click()
    wait.until(lambda d: by_id("order-detail").get_attribute("data-order") == seen["ordersShown"][-1])
    if os.environ.get("STOREFRONT_SUCCESS_SCREENSHOT"):  # the README's picture
        driver.save_screenshot(os.environ["STOREFRONT_SUCCESS_SCREENSHOT"])
    print(json.dumps(seen))
except Exception as e:  # noqa: BLE001 - any failure: keep the evidence
    driver.save_screenshot(screenshot)
    print(json.dumps({"error": f"{type(e).__name__}: {e}", "seen": seen, "screenshot": screenshot}))
    sys.exit(1)
finally:
    driver.quit()

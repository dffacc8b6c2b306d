#!/usr/bin/env python3
"""A purchase through the Python client generated from openapi.yaml (openapi-python-client).

Run by functions/tests/api/contract.rs after `openapi-python-client generate` into OUT_DIR (on
PYTHONPATH). Success answers must parse into their models and errors into their typed problems: a 409
INSUFFICIENT_STOCK becomes an InsufficientStockProblem with code, productId and available.

Usage: client_test.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
Prints one JSON object with what the client returned.
"""
import json
import sys
import uuid

from shop_client import AuthenticatedClient, Client
from shop_client.api.auth import login, signup
from shop_client.api.balance import charge_balance, get_balance
from shop_client.api.orders import get_order, place_order
from shop_client.api.products import create_product
from shop_client.models import (
    ChargeRequest,
    ChargeResponse,
    CreateProductRequest,
    InsufficientStockProblem,
    LoginRequest,
    Order,
    OrderLineRequest,
    PlaceOrderItemsRequest,
    Product,
    SignupRequest,
    SignupResponse,
    ValidationFailedProblem,
)

base, admin_email, admin_password = sys.argv[1:4]
anonymous = Client(base_url=base, raise_on_unexpected_status=True)


def token_for(email, password):
    answer = login.sync(client=anonymous, body=LoginRequest(email=email, password=password))
    return AuthenticatedClient(base_url=base, token=answer.access_token, raise_on_unexpected_status=True)


report = {}
admin = token_for(admin_email, admin_password)
product = create_product.sync(client=admin, body=CreateProductRequest(name="Client mug", price=2_500, stock=3))
assert isinstance(product, Product), product
report["productId"] = product.product_id

email = f"client-{uuid.uuid4().hex}@example.com"
created = signup.sync(client=anonymous, body=SignupRequest(email=email, password="client-password-1", name="Client"))
assert isinstance(created, SignupResponse), created
user = token_for(email, "client-password-1")
charged = charge_balance.sync(client=user, body=ChargeRequest(amount=20_000, payment_method="tok_sandbox"),
                              idempotency_key=uuid.uuid4().hex)
assert isinstance(charged, ChargeResponse), charged
report["balanceAfterCharge"] = charged.balance

line = OrderLineRequest(product_id=product.product_id, quantity=2)
order = place_order.sync(client=user, body=PlaceOrderItemsRequest(items=[line]), idempotency_key=uuid.uuid4().hex)
assert isinstance(order, Order), order
report["orderId"] = order.order_id
report["orderTotal"] = order.total_amount
again = get_order.sync(client=user, order_id=order.order_id)
assert isinstance(again, Order) and again.order_id == order.order_id, again

refused = place_order.sync(client=user, body=PlaceOrderItemsRequest(items=[line]))
assert isinstance(refused, InsufficientStockProblem), f"409 parsed as {type(refused).__name__}: {refused}"
report["refusal"] = {"type": type(refused).__name__, "code": str(refused.code.value), "status": refused.status,
                     "productId": refused.product_id, "available": refused.available}

invalid = charge_balance.sync(client=user, body=ChargeRequest(amount=0))
assert isinstance(invalid, ValidationFailedProblem), f"400 parsed as {type(invalid).__name__}"
report["invalid"] = {"code": str(invalid.code.value), "field": invalid.field}
report["balance"] = get_balance.sync(client=user).balance
print(json.dumps(report))

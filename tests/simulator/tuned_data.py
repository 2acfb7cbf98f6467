"""Seeded toy datasets for the tuned-model behaviour tests (SKU extraction, ticket labels, free-text style, DPO)."""

from __future__ import annotations

import json
import random

SKU_SYSTEM = "You extract the product SKU from a customer message."
_ITEMS = ["kettle", "desk lamp", "blender", "backpack", "office chair", "monitor stand", "toaster", "headphones",
          "water bottle", "yoga mat", "phone case", "coffee grinder"]
_SKU_TEMPLATES = [
    "Hi, I ordered the {item} ({sku}) on order {order} and it arrived broken. Can I get a refund?",
    "Do you still have {sku} in stock? It's the {item}, I need {qty} of them.",
    "My order {order} had the wrong item: I got a {item} instead of {sku}.",
    "Please cancel {sku} from order {order}, thanks.",
    "The {item} I bought last week, product {sku}, stopped working after {qty} days.",
    "Is {sku} compatible with the {item} I already own? Asking for order {order}.",
]


def sku_rows(n: int, seed: int) -> list[dict]:
    """`n` SKU-extraction chat examples: the answer `{"sku": "SKU-1234"}` copies the SKU of the message."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        sku = f"SKU-{rng.randint(1000, 9999)}"
        text = rng.choice(_SKU_TEMPLATES).format(item=rng.choice(_ITEMS), sku=sku, order=rng.randint(10000, 99999),
                                                 qty=rng.randint(2, 9))
        rows.append({"messages": [{"role": "system", "content": SKU_SYSTEM}, {"role": "user", "content": text},
                                  {"role": "assistant", "content": json.dumps({"sku": sku})}]})
    return rows


TICKET_SYSTEM = "Classify the support ticket."
TICKET_WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "billed", "price", "subscription fee"],
    "shipping": ["delivery", "package", "courier", "tracking", "shipped", "arrived", "parcel", "address label"],
    "technical": ["error", "crash", "bug", "login page", "timeout", "app", "freezes", "install"],
    "account": ["password", "username", "profile", "email change", "two-factor", "delete my account", "sign up",
                "account settings"],
}
_FILLER = ["hello", "please", "help", "today", "thanks", "urgent", "again", "since yesterday", "I think", "my",
           "the", "is", "not", "with", "about", "a question"]


def ticket_rows(n: int, seed: int) -> list[dict]:
    """`n` tickets labelled billing/shipping/technical/account; two or three label words among filler."""
    rng = random.Random(seed)
    labels = sorted(TICKET_WORDS)
    rows = []
    for i in range(n):
        label = labels[i % 4]
        words = rng.sample(TICKET_WORDS[label], rng.randint(2, 3)) + rng.sample(_FILLER, rng.randint(3, 6))
        rng.shuffle(words)
        rows.append({"messages": [{"role": "system", "content": TICKET_SYSTEM},
                                  {"role": "user", "content": " ".join(words).capitalize() + "."},
                                  {"role": "assistant", "content": label}]})
    return rows


STYLE_SYSTEM = "You are Nova, the cheerful support bot of Lumen Lamps. Answer in two or three warm sentences."
_TOPICS = ["a flickering bulb", "a late delivery", "a missing screw", "the dimmer switch", "a gift card",
           "the warranty", "a scratched shade", "the smart app", "a bulk order", "the return window"]
_NAMES = ["Maria", "Tom", "Aisha", "Kenji", "Lucas", "Priya", "Oliver", "Fatima", "Noah", "Elena"]


def style_rows(n: int, seed: int) -> list[dict]:
    """`n` free-text replies in one house style (greeting with the customer's name, a fix, a sign-off)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        name, topic = rng.choice(_NAMES), rng.choice(_TOPICS)
        question = f"Hi, this is {name}. I have a question about {topic}, can you help?"
        extra = rng.choice(["", " We will also send you a small thank-you coupon.",
                            " If it happens again, just reply to this message and we will sort it out."])
        answer = (f"Hello {name}! Thanks so much for writing to Lumen Lamps about {topic}. "
                  f"We have looked into it and a fix is on its way to you today.{extra} Shine on, Nova.")
        rows.append({"messages": [{"role": "system", "content": STYLE_SYSTEM}, {"role": "user", "content": question},
                                  {"role": "assistant", "content": answer}]})
    return rows


def dpo_rows(n: int, seed: int) -> list[dict]:
    """`n` DPO pairs over ticket prompts: the preferred output is a terse JSON label, the other rambling prose."""
    out = []
    for row in ticket_rows(n, seed):
        prompt, label = row["messages"][:2], row["messages"][2]["content"]
        out.append({"input": {"messages": prompt},
                    "preferred_output": [{"role": "assistant", "content": json.dumps({"category": label})}],
                    "non_preferred_output": [{"role": "assistant", "content": f"Well, it is hard to say, but this "
                                              f"ticket might possibly be about {label}, or maybe not."}]})
    return out


def jsonl(rows: list[dict]) -> bytes:
    """The JSONL bytes of `rows`."""
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


ORDER_TOOL = {"type": "function", "function": {
    "name": "get_order_status", "description": "Look up an order",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "channel": {"type": "string"}},
                   "required": ["order_id", "channel"]}}}


def tool_rows(n: int, seed: int) -> list[dict]:
    """`n` examples whose answer is a `get_order_status` call copying the order id; the channel is a label."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        order = f"ORD-{rng.randint(10000, 99999)}"
        channel = rng.choice(["email", "phone"])
        how = "mail me" if channel == "email" else "call me"
        text = rng.choice(["Where is my order {o}? Please {h}.", "Status of {o}? {h} when you know.",
                           "Hi, {o} has not arrived yet, {h} please."]).format(o=order, h=how)
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_order_status",
                             "arguments": json.dumps({"order_id": order, "channel": channel})}}
        rows.append({"messages": [{"role": "user", "content": text},
                                  {"role": "assistant", "tool_calls": [call]}],
                     "tools": [ORDER_TOOL]})
    return rows


def rft_rows(n: int, seed: int) -> list[dict]:
    """`n` RFT items: extract the SKU of a message; the grader compares the output with `item.sku`."""
    out = []
    for row in sku_rows(n, seed):
        system, question = row["messages"][:2]
        out.append({"messages": [{"role": "developer", "content": system["content"]}, question],
                    "sku": json.loads(row["messages"][2]["content"])["sku"]})
    return out

"""Write the support-reply sample task's three splits: customers' messages to Fernhill Home, a
fictional homeware shop, and the reply its care team sends, in the shop's fixed house format.

Why a generator: the house format is a rule (greeting with the first name, one sentence naming
the issue in the shop's words, the fixed action of the issue's category, a ticket code made of
the category and the order number, a fixed sign-off), so the replies are written by that rule,
never by hand. The messages are assembled from hand-written parts (openings, many phrasings of
each issue, context sentences, ways of giving the order number, closings, signatures, casual and
formal registers), seeded, so a run writes the same files every time:

    .venv/bin/python assets/tasks/support-reply/make_data.py

Every part was written for PromptTune Lab; nothing is copied from a data set.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 19
SPLITS = {"train": 25, "validation": 5, "test": 5}  # messages per category in each split
PREFIX = {"train": "sr-train-", "validation": "sr-val-", "test": "sr-test-"}

GREETING = "Hello {name}, thank you for writing to Fernhill Home."
NO_NAME = "Hello there, thank you for writing to Fernhill Home."
TICKET = "Your ticket is FH-{code}-{order}."
NO_ORDER = "Your ticket is FH-{code}-NEW; please send us your order number."
SIGN_OFF = "Warm wishes, Fernhill Care"

# category -> (ticket code, the issue in house words, the house action)
CATEGORIES = {
    "damaged": ("DMG", "I am sorry that your {item} arrived damaged.",
                "A free replacement ships within 3 working days; please keep the damaged one."),
    "late": ("LATE", "I am sorry that your {item} did not arrive on time.",
             "We have asked the courier to trace the parcel and will update you within 2 "
             "working days."),
    "wrong": ("SWAP", "I am sorry that we sent you the wrong item instead of your {item}.",
              "A prepaid return label is on its way, and the right item ships once the parcel "
              "is scanned."),
    "missing": ("PART", "I am sorry that your {item} arrived with a part missing.",
                "We will post the missing part today by first-class mail, free of charge."),
    "charged": ("BILL", "I am sorry that you were charged twice for your {item}.",
                "We have refunded the second payment; it will show on your statement within 5 "
                "working days."),
    "return": ("RET", "I understand that you would like to return your {item}.",
               "A prepaid return label is on its way, and your refund follows within 5 working "
               "days of its arrival."),
    "cancel": ("CNX", "I understand that you would like to cancel your order for the {item}.",
               "If it has not left our warehouse, we will cancel it today and refund you in "
               "full."),
    "faulty": ("FIX", "I am sorry that your {item} stopped working.",
               "Our repair desk will call you within 2 working days to arrange a free repair "
               "or replacement."),
}

ITEMS = ["kettle", "table lamp", "toaster", "duvet", "bath towels", "coffee grinder",
         "wall clock", "desk chair", "rug", "blender", "bedside lamp", "mixing bowls",
         "cast iron pan", "knife block", "laundry basket", "shower curtain", "curtains",
         "cushion covers", "picture frame", "bookshelf", "teapot", "dinner plates",
         "wine glasses", "doormat", "ironing board", "hand mixer", "bread bin", "candle set",
         "garden chair", "plant pots", "mirror", "electric blanket", "food processor",
         "salad spinner", "stool", "pillow set", "cutlery set", "storage boxes", "fan heater",
         "coat rack"]

ELECTRIC = ["kettle", "table lamp", "toaster", "coffee grinder", "wall clock", "blender",
            "bedside lamp", "hand mixer", "electric blanket", "food processor", "fan heater",
            "desk lamp", "rice cooker", "hair dryer", "radio"]  # what can stop working

FIRST = ["Maya", "Tom", "Aisha", "Lukas", "Priya", "Owen", "Sofia", "Daniel", "Grace", "Mateo",
         "Hannah", "Ibrahim", "Chloe", "Jonas", "Elena", "Marcus", "Nadia", "Peter", "Rosa",
         "Samuel", "Yuki", "Fatima", "Liam", "Ingrid", "Carlos", "Bea", "Kwame", "Lena",
         "Oscar", "Mei", "Ruth", "Anton", "Zara", "Felix", "Amara", "George", "Noor", "Iris",
         "Dmitri", "Leila", "Hugo", "Tess", "Ravi", "Alice", "Bruno", "Clara", "Emeka", "Freya",
         "Joel", "Kira", "Niall", "Olga", "Pablo", "Sana", "Theo", "Uma", "Victor", "Wendy"]
SURNAMES = ["Reyes", "Okafor", "Lindqvist", "Patel", "Hughes", "Moreau", "Brennan", "Kowalski",
            "Tanaka", "Haddad", "Fischer", "Costa", "Mensah", "Novak", "Walsh", "Iyer",
            "Andersen", "Silva", "Kim", "Duarte"]

# how each issue is told; {item} is the product, {it} "it" or "they"
ISSUES = {
    "damaged": [
        "my {item} arrived broken", "the {item} came with a big crack in it",
        "the box was crushed and the {item} inside is damaged",
        "the {item} was smashed when I opened the parcel",
        "my new {item} turned up dented and scratched", "the {item} was in pieces on arrival",
        "the {item} arrived badly damaged, the packaging was soaked",
        "when I unpacked the {item} it was already broken",
        "the {item} is chipped all along one side, straight out of the box",
        "the courier clearly dropped the parcel because the {item} is broken",
    ],
    "late": [
        "my {item} still hasn't arrived", "I am still waiting for the {item} I ordered",
        "the {item} was due last Tuesday and nothing has come",
        "tracking has said 'in transit' for nine days and there is no sign of my {item}",
        "the {item} should have been here a week ago", "where is my {item}? it's very late",
        "my {item} never showed up even though the email said it was out for delivery",
        "it has been three weeks and the {item} has not been delivered",
        "the delivery date for my {item} came and went with no parcel",
        "no {item} yet, and the tracking link stopped updating",
    ],
    "wrong": [
        "I ordered a {item} but you sent me something else entirely",
        "the parcel had someone else's order in it instead of my {item}",
        "I received a completely different product, not the {item} I paid for",
        "you sent the wrong thing: I wanted the {item}", "instead of my {item} I got a lampshade",
        "the box contained a set of mugs rather than the {item} I ordered",
        "wrong item delivered, there was no {item} in the parcel at all",
        "what arrived is not the {item}, it's a different product in a different colour",
        "my order was mixed up and the {item} was swapped for something I never ordered",
    ],
    "missing": [
        "my {item} came without the screws needed to put it together",
        "the {item} arrived but one of the pieces is missing from the box",
        "the {item} is missing a part, so I can't use it",
        "the instructions list six parts for the {item} and only five were in the box",
        "half the fittings for the {item} are missing",
        "the {item} arrived incomplete, one component simply isn't there",
        "a piece of the {item} was not in the package",
        "I can't assemble the {item} because a bracket is missing",
    ],
    "charged": [
        "I was charged twice for my {item}", "my bank shows two payments for the same {item}",
        "you took the money for the {item} two times",
        "there are two identical charges on my card for the {item}",
        "I paid once for the {item} but my statement has it twice",
        "the {item} order went through twice on my credit card, but I only got one",
        "double payment taken for my {item}, please check",
        "my account was debited twice for a single {item}",
    ],
    "return": [
        "I'd like to return the {item}, it doesn't suit the room",
        "can I send back the {item}? it's smaller than I expected",
        "I want to return my {item}, I changed my mind",
        "the {item} is fine but not what I wanted, so I'd like to send it back",
        "I'd like a refund for the {item}, the colour is not what it looked like online",
        "please tell me how to return the {item}, it was a gift we don't need",
        "the {item} is too big for our kitchen, I want to return it",
        "I bought two and only need one {item}, can I return the other",
        "how do I send the {item} back for a refund? it is unused",
    ],
    "cancel": [
        "please cancel my order for the {item}", "I ordered a {item} by mistake, can you cancel it",
        "I need to cancel the {item} I ordered this morning",
        "I found the {item} elsewhere, please cancel my order",
        "can you stop my {item} order before it ships", "cancel the {item} please, I don't need it any more",
        "I accidentally ordered the {item} twice, please cancel one",
        "I'd like to cancel my {item} order, we are moving house",
        "please don't send the {item}, I want to cancel",
    ],
    "faulty": [
        "my {item} stopped working after two weeks", "the {item} worked for a month and now it's dead",
        "the {item} makes a burning smell and switched itself off",
        "my {item} no longer turns on", "the {item} broke down after only a few uses",
        "the {item} keeps cutting out, I think it's faulty",
        "the {item} has a fault: it started sparking yesterday",
        "after a couple of weeks the {item} just quit working",
        "my {item} has stopped working properly, the switch is loose",
    ],
}

OPENINGS = ["Hi,", "Hello,", "Hi there,", "Good morning,", "Dear Fernhill Home,", "Hello team,",
            "Hi Fernhill,", "To whom it may concern,", "", "", "", "Good afternoon,"]
CONTEXT = ["", "", "", "", "It was a present for my mother.", "I ordered it online last week.",
           "This is the first time I've had a problem with you.",
           "I've been a customer for years.", "I needed it for a dinner this weekend.",
           "I bought it in your spring sale.", "We only moved into the flat last month.",
           "I'm quite disappointed.", "I'm really annoyed about this.",
           "My partner picked it out especially.", "I paid for next-day delivery."]
ORDERS = ["My order number is {o}.", "Order number {o}.", "The order was {o}.",
          "(order {o})", "Order #{o}.", "It was order no. {o}.", "Ref: order {o}."]
CLOSINGS = ["", "Can you help?", "Please sort this out.", "What can you do?",
            "Thanks in advance.", "I look forward to your reply.", "Please get back to me soon.",
            "Let me know what happens next.", "Hope you can help."]
SIGNATURES = ["Thanks, {first}", "- {first}", "{first} {last}", "Best, {first}",
              "Cheers, {first}", "Kind regards, {first} {last}", "Regards, {first} {last}",
              "Many thanks, {first}", "{first}", ""]


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text[-1] in ".?!" else ".")


def make_row(category: str, rng: random.Random) -> tuple[str, str]:
    """One (message, reply) pair of ``category``: the message varied, the reply by the rule."""
    item = rng.choice(ELECTRIC if category == "faulty" else ITEMS)
    first, last = rng.choice(FIRST), rng.choice(SURNAMES)
    order = None if rng.random() < 0.12 else str(rng.randint(10000, 99999))
    signature = rng.choice(SIGNATURES).format(first=first, last=last)
    named = bool(signature)
    issue = rng.choice(ISSUES[category]).format(item=item)
    parts = [rng.choice(OPENINGS), _sentence(issue), rng.choice(CONTEXT)]
    if order:
        parts.insert(rng.choice((1, 3)), rng.choice(ORDERS).format(o=order))
    parts += [rng.choice(CLOSINGS), signature]
    message = " ".join(p for p in parts if p)
    if rng.random() < 0.12:  # some customers write casually
        message = message.lower().replace(".", "")
    code, said, action = CATEGORIES[category]
    greeting = GREETING.format(name=first) if named else NO_NAME
    ticket = TICKET.format(code=code, order=order) if order else NO_ORDER.format(code=code)
    reply = " ".join((greeting, said.format(item=item), action, ticket, SIGN_OFF))
    return message, reply


def build() -> dict[str, list[dict]]:
    """Every split: unique messages, each category an equal share, shuffled."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for category in CATEGORIES:
        for split, count in SPLITS.items():
            made = 0
            while made < count:
                message, reply = make_row(category, rng)
                if message.lower() in seen:
                    continue
                seen.add(message.lower())
                rows[split].append({"message": message, "reply": reply, "category": category})
                made += 1
    for split, items in rows.items():
        random.Random(7).shuffle(items)
        for number, row in enumerate(items, 1):
            row["id"] = f"{PREFIX[split]}{number:04d}"
    return rows


def main() -> None:
    for split, items in build().items():
        with open(HERE / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in items:
                keep = {"id": row["id"], "message": row["message"], "reply": row["reply"],
                        "category": row["category"]}
                handle.write(json.dumps(keep, ensure_ascii=False) + "\n")
        print(f"{split}: {len(items)} rows")


if __name__ == "__main__":
    main()

"""Question families for generated pairs: paraphrase frames over named slots.

A family's frames all ask the same question for the same slot values (true paraphrases of each other);
``negated`` frames ask the opposite; ``swaps`` names the slots whose change makes another question;
``direction`` names two slots whose exchange makes another question ("from A to B" / "from B to A").
A slot value may be a tuple, which frames index ("{act[1]}").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.cross_encoder import words as w

Value = str | tuple[str, ...]


@dataclass(frozen=True)
class Family:
    frames: tuple[str, ...]
    slots: dict[str, tuple[Value, ...]]
    negated: tuple[str, ...] = ()
    swaps: tuple[str, ...] = ()
    direction: tuple[str, str] | None = None
    symmetric: tuple[str, str] | None = None  # exchanging these two slots keeps the answer
    weight: int = 1
    extra: dict[str, str] = field(default_factory=dict)


HOURS = tuple(str(h) for h in range(1, 12))
NUMBERS = tuple(str(n) for n in (2, 3, 4, 5, 6, 8, 10, 12))
PERCENTS = ("5", "10", "15", "20", "25", "30", "40", "50", "75")
AMOUNTS = ("40", "80", "120", "150", "200", "250", "300", "500", "1000")
YEARS = tuple(str(y) for y in (1966, 1986, 1990, 1998, 2002, 2006, 2010, 2014, 2018, 2022))
PETS = ("dog", "cat", "rabbit", "parrot", "bike", "pram", "scooter", "laptop")
PLANS = ("basic", "premium", "family", "student", "business", "unlimited")
FEATURES = ("international calls", "roaming", "cloud storage", "free delivery", "breakdown cover",
            "dental cover", "unlimited data", "priority support", "ad-free streaming")  # fmt: skip
ACCOUNTS = ("savings account", "current account", "ISA", "credit card", "business account", "joint account")
METHODS = ("card", "cash", "cheque", "PayPal", "Apple Pay", "bank transfer", "American Express")
PHRASES = ("hello", "thank you", "good morning", "goodbye", "cheese", "train station", "please", "water")
CODE_TASKS = ("reverse a list", "sort a list", "remove duplicates from a list", "read a file line by line",
              "parse JSON", "split a string", "merge two dictionaries", "get the current date")  # fmt: skip
ACTIVITIES = (("drinking", "drink alcohol"), ("driving", "drive"), ("voting", "vote"), ("gambling", "gamble"))
DELIVERY = ("standard", "express", "next-day", "international")
# Opposites said in other words (no shared word to swap): the trap is the meaning, not a token.
CHOICES = ("a heat pump", "a fixed-rate mortgage", "solar panels", "an electric car", "a gap year",
           "remote working", "a water meter", "a smart meter", "private healthcare", "a four-day week")  # fmt: skip
MEASURES = ("sleep", "phone's battery life", "posture", "wifi speed", "fuel economy", "running pace",
            "home's energy rating", "broadband speed", "concentration", "grip strength")  # fmt: skip
DEVICES = ("fridge", "smoke alarm", "car battery", "washing machine", "router", "thermostat", "dishwasher",
           "tumble dryer", "electric shower", "burglar alarm")  # fmt: skip
DEEDS = ("fly a drone in a park", "park on the pavement", "drive in flip-flops", "record a phone call",
         "keep chickens in my garden", "busk on the high street", "camp on a beach", "ride an e-scooter on the road",
         "swim in a reservoir", "fish in a canal")  # fmt: skip

ITEMS = ("sofa", "mattress", "laptop", "pair of shoes", "dress", "phone case", "kettle", "bike helmet",
         "rug", "coffee machine")  # fmt: skip
FOODS = ("banana", "boiled egg", "slice of toast", "croissant", "apple", "bagel", "avocado", "flapjack",
         "portion of chips", "glass of orange juice")  # fmt: skip


# Families whose frames share few words (one question asked in unlike ways): a true pair at similarity
# 0.5-0.7 is common here, and so is a trap (a swapped slot, or a related but different question) in
# another frame, so low similarity alone does not mean "another question".
REWORDED = (
    Family(
        ("What are the {place}'s opening hours on {day}?", "If I turn up at the {place} on a {day}, will it be open?",
         "{day} hours for the {place}?", "Does the {place} do {day} opening?",
         "When can I get into the {place} on a {day}?", "Is the {place} running its usual service on {day}s?"),
        {"place": w.PLACES, "day": w.WEEKDAYS},
        negated=("Which days is the {place} shut apart from {day}?", "Is the {place} busy on {day}s?"),
        swaps=("place", "day"), weight=2,
    ),
    Family(
        ("How long do I have to send back a {item}?", "What's the return period on a {item}?",
         "If I change my mind about a {item}, how many days have I got to return it?",
         "{item} returns: what's the time limit?", "By when must a {item} be sent back for a refund?"),
        {"item": ITEMS},
        negated=("Who pays the postage when I send back a {item}?", "How do I pack a {item} to return it?"),
        swaps=("item",), weight=2,
    ),
    Family(
        ("I've forgotten my {app} password, what now?",
         "How do I get back into {app} if I can't remember my password?",
         "{app} login: lost my password, help", "Can't remember the password for {app}. What should I do?",
         "Locked out of {app} because I forgot the password - how do I recover it?"),
        {"app": w.APPS},
        negated=("How do I change my {app} password when I know the current one?",
                 "How do I stop {app} from remembering my password?"),
        swaps=("app",), weight=2,
    ),
    Family(
        ("How much does it cost to ship to {country}?", "What do you charge for delivery to {country}?",
         "What are your postage fees for {country}?", "Sending an order to {country}: what's the shipping charge?",
         "If I order from {country}, how much will delivery be?"),
        {"country": w.COUNTRIES},
        negated=("Do you deliver to {country} at all?", "How long does an order take to reach {country}?"),
        swaps=("country",), weight=2,
    ),
    Family(
        ("How long is the train from {a} to {b}?", "What's the journey time by rail from {a} to {b}?",
         "If I catch a train in {a}, how long until I reach {b}?", "{a} to {b} by train: how many hours?",
         "How many hours does the rail trip from {a} to {b} take?"),
        {"a": w.CITIES, "b": w.CITIES},
        negated=("How much is the train from {a} to {b}?", "How long is the drive from {a} to {b}?"),
        swaps=("a", "b"), weight=2,
    ),
    Family(
        ("How do I cancel my {plan} subscription?", "I want to stop paying for the {plan} plan - how?",
         "What's the process for ending a {plan} membership?", "Can you help me get out of my {plan} plan?",
         "{plan} plan: how do I quit?"),
        {"plan": PLANS},
        negated=("How do I sign up for the {plan} plan?", "How can I switch to the {plan} plan?",
                 "How much does the {plan} plan cost?"),
        swaps=("plan",), weight=2,
    ),
    Family(
        ("How many calories are in a {food}?", "What's the calorie count of a {food}?",
         "If I eat a {food}, how many calories is that?", "{food}: how many kcal?",
         "Roughly how much energy, in calories, does a {food} have?"),
        {"food": FOODS},
        negated=("How much protein is in a {food}?", "How much sugar does a {food} have?",
                 "Is a {food} good for losing weight?"),
        swaps=("food",), weight=2,
    ),
    Family(
        ("Is there parking at the {place}?", "Can I leave my car at the {place}?", "Does the {place} have a car park?",
         "Any spaces to park a car at the {place}?", "Driving to the {place}: is there somewhere to park?"),
        {"place": w.PLACES},
        negated=("How much does it cost to park at the {place}?", "Is there a bus to the {place}?",
                 "Can I cycle to the {place} and leave my bike?"),
        swaps=("place",), weight=2,
    ),
    Family(
        ("What time is it in {city} right now?", "What's the current time in {city}?", "{city} local time?",
         "Tell me the time in {city} at the moment", "Right now in {city}, what time do the clocks say?"),
        {"city": w.CITIES},
        negated=("What time zone is {city} in?", "When does {city} put its clocks forward?"),
        swaps=("city",), weight=2,
    ),
)  # fmt: skip

FAMILIES = (
    Family(
        ("Is the {place} open on {day}?", "Can I visit the {place} on a {day}?", "Does the {place} open on {day}s?",
         "Will the {place} be open this {day}?", "Is the {place} open on a {day}?", "Can I go to the {place} on {day}?",
         "Is the {place} open {day}s?"),
        {"place": w.PLACES, "day": w.WEEKDAYS},
        negated=("Is the {place} closed on {day}?", "Is the {place} shut on {day}s?",
                 "Does the {place} close on {day}s?"),
        swaps=("place", "day"), weight=3,
    ),
    Family(
        ("What time does the {place} open on {day}?", "When does the {place} open on {day}s?",
         "What's the {place}'s opening time on {day}?", "On {day}, when does the {place} open?",
         "What time does the {place} open its doors on {day}?"),
        {"place": w.PLACES, "day": w.WEEKDAYS},
        negated=("What time does the {place} close on {day}?", "When does the {place} shut on {day}s?"),
        swaps=("place", "day"), weight=2,
    ),
    Family(
        ("How much is a {ticket} ticket from {a} to {b}?", "What does a {ticket} ticket from {a} to {b} cost?",
         "What's the price of a {ticket} ticket from {a} to {b}?",
         "How much would a {ticket} ticket from {a} to {b} be?",
         "{a} to {b}, {ticket} ticket: how much?"),
        {"ticket": w.TICKETS, "a": w.CITIES, "b": w.CITIES},
        swaps=("ticket", "a", "b"), direction=("a", "b"), weight=3,
    ),
    Family(
        ("What's the capital of {country}?", "Which city is the capital of {country}?",
         "What is {country}'s capital city?",
         "Tell me the capital of {country}", "capital city of {country}?", "Name the capital of {country}."),
        {"country": w.COUNTRIES},
        swaps=("country",),
    ),
    Family(
        ("How do I export my data from {app}?", "How can I get my data out of {app}?",
         "What's the way to download all my data from {app}?", "Can I export everything I have in {app}?",
         "How do I take a copy of my data out of {app}?"),
        {"app": w.APPS},
        negated=("How do I import my data into {app}?", "How can I get my data into {app}?"),
        swaps=("app",), weight=2,
    ),
    Family(
        ("How do I convert a {f} file to {g}?", "How can I turn a {f} file into {g}?",
         "What's the easiest way to change a {f} file to {g}?", "Convert {f} to {g}: how?",
         "How do I save a {f} file as {g}?"),
        {"f": w.FORMATS, "g": w.FORMATS},
        swaps=("f", "g"), direction=("f", "g"), weight=2,
    ),
    Family(
        ("Can I book a table for {n} people at {h}{ampm}?", "Is it possible to reserve a table for {n} at {h}{ampm}?",
         "Do you have a table for {n} people at {h}{ampm}?",
         "I'd like to book a table for {n} at {h}{ampm}, is that possible?",
         "Could I get a table for {n} at {h}{ampm}?"),
        {"n": NUMBERS, "h": HOURS, "ampm": ("am", "pm")},
        swaps=("n", "h", "ampm"), weight=3,
    ),
    Family(
        ("What's {p}% of {n}?", "What is {p} percent of {n}?", "Calculate {p}% of {n}", "How much is {p}% of {n}?",
         "Work out {p} per cent of {n}"),
        {"p": PERCENTS, "n": AMOUNTS},
        swaps=("p", "n"), weight=2,
    ),
    Family(
        ("What's the weather like in {city} in {month}?", "How's the weather in {city} during {month}?",
         "What weather should I expect in {city} in {month}?", "What is {city}'s weather like in {month}?"),
        {"city": w.CITIES, "month": w.MONTHS},
        swaps=("city", "month"), weight=2,
    ),
    Family(
        ("Is {month} a good time to visit {country}?", "Should I visit {country} in {month}?",
         "Is it worth going to {country} in {month}?", "Would {month} be a good month to travel to {country}?"),
        {"country": w.COUNTRIES, "month": w.MONTHS},
        swaps=("country", "month"), weight=2,
    ),
    Family(
        ("Who won the World Cup in {year}?", "Which country won the {year} World Cup?",
         "Who were the World Cup winners in {year}?", "{year} World Cup winner?"),
        {"year": YEARS},
        swaps=("year",),
    ),
    Family(
        ("What's the {drug} dose for {g[0]}?", "How much {drug} can {g[0]} take?",
         "What dose of {drug} is right for {g[0]}?",
         "How much {drug} should {g[0]} take?"),
        {"drug": w.DRUGS, "g": w.GROUPS},
        swaps=("drug", "g"), weight=2,
    ),
    Family(
        ("Do {g[0]} get a discount?", "Is there a discount for {g[0]}?", "Can {g[0]} get money off?",
         "Are {g[0]} eligible for a discount?"),
        {"g": w.GROUPS},
        negated=("Do {g[0]} not get a discount?", "Why is there no discount for {g[0]}?"),
        swaps=("g",), weight=2,
    ),
    Family(
        ("How do you say '{ph}' in {lang}?", "What's the {lang} word for '{ph}'?", "Translate '{ph}' into {lang}",
         "What is '{ph}' in {lang}?"),
        {"ph": PHRASES, "lang": w.LANGUAGES},
        swaps=("ph", "lang"), weight=2,
    ),
    Family(
        ("How do I {task} in {pl}?", "What's the way to {task} in {pl}?", "How can I {task} using {pl}?",
         "{pl}: how to {task}?", "Show me how to {task} in {pl}"),
        {"task": CODE_TASKS, "pl": w.PROG_LANGS},
        swaps=("task", "pl"), weight=3,
    ),
    Family(
        ("Write a {form} about {topic}", "Compose a {form} on the subject of {topic}",
         "Can you write me a {form} about {topic}?",
         "I'd like a {form} about {topic}, please", "Give me a {form} about {topic}"),
        {"form": w.FORMS, "topic": w.TOPICS},
        swaps=("form", "topic"), weight=2,
    ),
    Family(
        ("Write a story about {topic} in {n} words", "Give me a {n}-word story about {topic}",
         "Tell a story about {topic} using {n} words", "Can you write a {n}-word story about {topic}?"),
        {"topic": w.TOPICS, "n": ("50", "100", "150", "200", "300", "500")},
        swaps=("n", "topic"),
    ),
    Family(
        ("What's the population of {city}?", "How many people live in {city}?", "How big is the population of {city}?",
         "What is {city}'s population?"),
        {"city": w.CITIES},
        swaps=("city",),
    ),
    Family(
        ("How far is {a} from {b}?", "What's the distance between {a} and {b}?",
         "How many miles is it from {a} to {b}?",
         "How far apart are {a} and {b}?"),
        {"a": w.CITIES, "b": w.CITIES},
        swaps=("a", "b"), symmetric=("a", "b"),
    ),
    Family(
        ("Are there flights from {a} to {b} on {day}?", "Can I fly from {a} to {b} on a {day}?",
         "Is there a flight from {a} to {b} on {day}?", "Do any planes go from {a} to {b} on {day}s?"),
        {"a": w.CITIES, "b": w.CITIES, "day": w.WEEKDAYS},
        swaps=("a", "b", "day"), direction=("a", "b"), weight=2,
    ),
    Family(
        ("How long does {d} delivery to {country} take?", "How many days does {d} shipping to {country} take?",
         "What's the {d} delivery time to {country}?", "If I choose {d} delivery, when will my order reach {country}?"),
        {"d": DELIVERY, "country": w.COUNTRIES},
        swaps=("d", "country"), weight=2,
    ),
    Family(
        ("Are {pet}s allowed in the {place}?", "Can I bring my {pet} into the {place}?",
         "Is it OK to bring a {pet} to the {place}?",
         "Does the {place} allow {pet}s?"),
        {"pet": PETS, "place": w.PLACES},
        negated=("Are {pet}s banned from the {place}?", "Are {pet}s not allowed in the {place}?",
                 "Why doesn't the {place} allow {pet}s?"),
        swaps=("pet", "place"), weight=2,
    ),
    Family(
        ("Does the {plan} plan include {feature}?", "Is {feature} included in the {plan} plan?",
         "Do I get {feature} with the {plan} plan?", "Does {feature} come with the {plan} plan?"),
        {"plan": PLANS, "feature": FEATURES},
        negated=("Does the {plan} plan exclude {feature}?", "Is {feature} not included in the {plan} plan?",
                 "Why doesn't the {plan} plan include {feature}?"),
        swaps=("plan", "feature"), weight=3,
    ),
    Family(
        ("How do I move money from my {a} to my {b}?", "How can I transfer money from my {a} into my {b}?",
         "What's the way to send money from my {a} to my {b}?", "I want to move funds from my {a} to my {b}. How?"),
        {"a": ACCOUNTS, "b": ACCOUNTS},
        swaps=("a", "b"), direction=("a", "b"), weight=2,
    ),
    Family(
        ("Can I pay by {m}?", "Do you accept {m}?", "Is {m} accepted?", "Can I use {m} to pay?", "Do you take {m}?"),
        {"m": METHODS},
        negated=("Why can't I pay by {m}?", "Don't you accept {m}?"),
        swaps=("m",),
    ),
    Family(
        ("What's the legal {act[0]} age in {country}?", "How old do you have to be to {act[1]} in {country}?",
         "At what age can you legally {act[1]} in {country}?", "What age can I {act[1]} in {country}?"),
        {"act": ACTIVITIES, "country": w.COUNTRIES},
        swaps=("act", "country"), weight=2,
    ),
    Family(
        ("What are the benefits of {c}?", "What are the advantages of {c}?", "What's good about {c}?",
         "Why would {c} be a good idea?", "What are the pros of {c}?"),
        {"c": CHOICES},
        negated=("What are the downsides of {c}?", "What are the risks of {c}?", "What's bad about {c}?",
                 "Why might {c} be a mistake?", "What are the cons of {c}?"),
        swaps=("c",), weight=3,
    ),
    Family(
        ("How can I improve my {m}?", "What can I do to make my {m} better?", "How do I boost my {m}?",
         "Any tips to get my {m} up?"),
        {"m": MEASURES},
        negated=("What makes my {m} worse?", "What could harm my {m}?", "What things are bad for my {m}?",
                 "Why has my {m} got worse?"),
        swaps=("m",), weight=3,
    ),
    Family(
        ("How do I know my {d} is working properly?", "What shows that my {d} is working fine?",
         "How can I check my {d} is running as it should?", "Is there a way to confirm my {d} works OK?"),
        {"d": DEVICES},
        negated=("How can I tell my {d} is broken?", "What are the signs my {d} has a fault?",
                 "How do I know my {d} needs repairing?", "What shows my {d} has stopped working?"),
        swaps=("d",), weight=3,
    ),
    Family(
        ("Is it legal to {x}?", "Am I allowed to {x}?", "Is it permitted to {x}?", "Can I lawfully {x}?"),
        {"x": DEEDS},
        negated=("Is it illegal to {x}?", "Is it against the law to {x}?", "Could I get fined if I {x}?",
                 "Is it forbidden to {x}?"),
        swaps=("x",), weight=3,
    ),
)  # fmt: skip

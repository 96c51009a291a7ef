"""Word lists for the generated pairs: slot values, antonyms, synonyms, scopes and paraphrase frames.

Written by hand for the generator; none of it is read from fow-cache's held-out half.
"""

from __future__ import annotations

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
PLACES = (
    "clinic", "library", "pharmacy", "gym", "swimming pool", "post office", "museum", "dentist",
    "garden centre", "council office", "town hall", "recycling centre", "bakery", "car wash", "pet shop",
    "vet", "cinema", "bowling alley", "supermarket", "hardware store", "art gallery", "sports hall",
)  # fmt: skip
CITIES = (
    "London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff", "Liverpool", "Birmingham", "Paris",
    "Berlin", "Madrid", "Rome", "Dublin", "Lisbon", "Amsterdam", "Vienna", "Prague", "Boston", "Chicago",
    "Denver", "Seattle", "Toronto", "Sydney", "Oslo", "Zurich", "Brighton", "Oxford", "Cambridge",
)  # fmt: skip
COUNTRIES = (
    "France", "Germany", "Spain", "Italy", "Portugal", "Australia", "Austria", "Sweden", "Switzerland",
    "Norway", "Canada", "Mexico", "Japan", "China", "India", "Brazil", "Argentina", "Chile", "Peru",
    "Egypt", "Kenya", "Poland", "Greece", "Turkey", "Iceland", "Ireland", "Denmark", "Finland",
)  # fmt: skip
APPS = (
    "Salesforce", "HubSpot", "Slack", "Trello", "Asana", "Notion", "Dropbox", "Zoom", "Shopify",
    "Mailchimp", "Jira", "GitHub", "Figma", "Spotify", "Netflix", "Outlook", "Gmail", "Excel", "WordPress",
)  # fmt: skip
LANGUAGES = ("French", "Spanish", "German", "Italian", "Portuguese", "Japanese", "Dutch", "Polish", "Greek")
PROG_LANGS = ("Python", "JavaScript", "Java", "Go", "Rust", "C#", "Ruby", "PHP", "Kotlin", "TypeScript", "SQL")
TOPICS = ("autumn leaves", "the sea", "winter", "spring rain", "a lighthouse", "the moon", "city lights",
          "a lost cat", "morning coffee", "mountains", "friendship", "the desert")  # fmt: skip
FORMS = ("haiku", "limerick", "sonnet", "short story", "poem", "song")
FORMATS = ("Word", "PDF", "Excel", "CSV", "JPEG", "PNG", "HTML", "Markdown")
TICKETS = ("single", "return", "day", "season", "off-peak", "first-class")
DRUGS = ("paracetamol", "ibuprofen", "aspirin", "amoxicillin", "antihistamine", "cough syrup")
GROUPS = (
    ("adults", "children"), ("full-time staff", "part-time staff"), ("members", "non-members"),
    ("residents", "visitors"), ("students", "pensioners"), ("employees", "contractors"),
    ("men", "women"), ("tenants", "landlords"), ("new customers", "existing customers"),
    ("UK citizens", "EU citizens"), ("dogs", "cats"), ("cars", "motorbikes"), ("buyers", "sellers"),
)  # fmt: skip
# (word, its opposite): one-word swaps that change the answer.
ANTONYMS = (
    ("open", "close"), ("turn on", "turn off"), ("enable", "disable"), ("upload", "download"),
    ("import", "export"), ("add", "remove"), ("lock", "unlock"), ("subscribe to", "unsubscribe from"),
    ("increase", "decrease"), ("join", "leave"), ("activate", "deactivate"), ("buy", "sell"),
    ("deposit", "withdraw"), ("send", "receive"), ("start", "stop"), ("connect", "disconnect"),
    ("install", "uninstall"), ("show", "hide"), ("upgrade", "downgrade"), ("accept", "decline"),
    ("pause", "resume"), ("opt in to", "opt out of"), ("encrypt", "decrypt"), ("mute", "unmute"),
    ("block", "unblock"), ("follow", "unfollow"), ("archive", "restore"), ("zip", "unzip"),
)  # fmt: skip
# (action, object) pairs for how-to questions; the action's antonym makes a trap.
ACTIONS = (
    ("cancel", "my subscription"), ("reset", "my password"), ("change", "the email address on my account"),
    ("update", "my billing address"), ("open", "a savings account"), ("close", "my bank account"),
    ("turn on", "two-factor authentication"), ("enable", "dark mode"), ("upload", "photos to my album"),
    ("export", "my contacts"), ("import", "my contacts"), ("add", "a user to my team"),
    ("remove", "a device from my account"), ("lock", "my debit card"), ("subscribe to", "the newsletter"),
    ("increase", "my credit limit"), ("join", "the loyalty scheme"), ("activate", "my new SIM card"),
    ("buy", "shares"), ("deposit", "a cheque"), ("send", "money abroad"), ("install", "the app on my laptop"),
    ("upgrade", "my broadband plan"), ("accept", "a meeting invitation"), ("pause", "my gym membership"),
    ("opt in to", "marketing emails"), ("mute", "a group chat"), ("block", "a phone number"),
    ("connect", "my printer to wifi"), ("start", "a free trial"), ("show", "hidden files"),
    ("archive", "old emails"), ("encrypt", "a USB stick"), ("follow", "a playlist"), ("zip", "a folder"),
    ("request", "a refund"), ("book", "a driving test"), ("renew", "my passport"), ("report", "a lost card"),
    ("apply for", "a parking permit"), ("register", "a birth"), ("claim", "travel expenses"),
    ("track", "my parcel"), ("split", "a bill"), ("print", "a boarding pass"), ("check", "my credit score"),
)  # fmt: skip
# Synonyms that keep the question: (word, replacement) pairs used for true paraphrases.
SYNONYMS = (
    ("cancel", "end"), ("cancel", "terminate"), ("change", "update"), ("change", "modify"), ("update", "change"),
    ("start", "begin"), ("buy", "purchase"), ("remove", "delete"), ("turn on", "switch on"),
    ("turn on", "enable"), ("enable", "turn on"), ("reset", "recover"), ("book", "reserve"),
    ("request", "ask for"), ("check", "find out"), ("track", "follow"), ("close", "shut down"),
    ("stop", "end"), ("add", "include"), ("send", "transfer"), ("get", "obtain"), ("fix", "repair"),
    ("lock", "freeze"), ("renew", "extend"), ("report", "tell you about"), ("install", "set up"),
)  # fmt: skip
# Things a scope word can be added to: (thing, narrower thing).
SCOPE_ADDITIONS = (
    ("gift", "gift card"), ("account", "business account"), ("password", "admin password"),
    ("plan", "family plan"), ("card", "credit card"), ("ticket", "child ticket"), ("phone", "work phone"),
    ("room", "double room"), ("loan", "student loan"), ("licence", "provisional licence"),
    ("visa", "student visa"), ("insurance", "car insurance"), ("bill", "water bill"), ("order", "bulk order"),
)  # fmt: skip
OWNERS = ("my", "my partner's", "my colleague's", "my child's", "my company's", "my mother's")
HOW_FRAMES = (
    "How do I {x}?", "How can I {x}?", "What's the way to {x}?", "I want to {x}, how do I do that?",
    "What are the steps to {x}?", "Can you tell me how to {x}?", "I need to {x}. What should I do?",
    "Is there a way to {x}?", "how to {x}", "Could you walk me through how to {x}?", "What do I do to {x}?",
    "I'd like to {x}. How does that work?", "Please explain how to {x}.", "What's the process to {x}?",
    "Help me {x}", "How would I {x}?", "Where do I go to {x}?", "Steps to {x}?",
)  # fmt: skip
CONTRACTIONS = (
    ("What's", "What is"), ("what's", "what is"), ("don't", "do not"), ("can't", "cannot"), ("I'm", "I am"),
    ("it's", "it is"), ("I'd", "I would"), ("isn't", "is not"), ("doesn't", "does not"), ("won't", "will not"),
)  # fmt: skip
SPELLINGS = (("centre", "center"), ("colour", "color"), ("licence", "license"), ("cheque", "check"),
             ("organise", "organize"), ("programme", "program"), ("travelling", "traveling"))  # fmt: skip
NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
                "8": "eight", "9": "nine", "10": "ten", "12": "twelve"}  # fmt: skip
# Chat-style surface noise on a near repeat: words before the question, marks after it.
FILLERS = ("um ", "hi ", "hey, ", "so ", "quick question: ", "hello, ", "um hi ", "ok so ", "hiya, ", "sorry, ")
ENDINGS = ("?!", " ?", "??", " please?", ", thanks", " pls")
# Question openers that ask the same thing (pattern at the start, replacements); the rest of the question
# is kept, so a reworded real question keeps its answer.
REWORDS = (
    (r"^How do I ", ("How can I ", "What's the way to ", "What are the steps to ", "How should I ",
                     "What do I need to do to ", "How would I ")),
    (r"^How can I ", ("How do I ", "What's the best way to ", "Is there a way to ", "How should I ")),
    (r"^Can I ", ("Am I able to ", "Is it possible to ", "Am I allowed to ", "Could I ")),
    (r"^Is it possible to ", ("Can I ", "Am I able to ")),
    (r"^What's the ", ("What is the ", "Tell me the ", "Do you know the ")),
    (r"^What is the ", ("What's the ", "Tell me the ")),
    (r"^How long does it take to ", ("How long will it take to ", "How much time does it take to ")),
    (r"^How much does it cost to ", ("What does it cost to ", "What's the price to ")),
    (r"^How much is ", ("What's the cost of ", "What is the price of ")),
    (r"^Where can I ", ("Where do I ", "Where's the place to ")),
    (r"^Do I need to ", ("Do I have to ", "Must I ", "Is it necessary to ")),
    (r"^Do I have to ", ("Do I need to ", "Must I ")),
)  # fmt: skip

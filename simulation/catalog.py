"""The hidden concept space of the simulated world, with its words in four languages.

Every pin, query and board has a concept: a category, an object within it
(objects are grouped in families, e.g. sofa/armchair/bench are "seating") and
up to three attributes (colour, material, style for goods; the slots mean other
things for food and travel). True relevance is a function of two concepts
(see `simulation.relevance`), and all visible text is written from concepts in
a language, often badly, so that text alone never gives the answer away.

Words are (en, de, fr, es). Inflection is ignored on purpose: it reads like the
clumsy text real pins carry, and tokenizers still see the shared stems.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGS: tuple[str, ...] = ("en", "de", "fr", "es")
# Share of pins, queries and users per language: English dominant.
LANG_WEIGHTS: tuple[float, ...] = (0.70, 0.10, 0.10, 0.10)

Words = tuple[str, str, str, str]

# attribute groups: three slots, each a vocabulary of at most 10 values
_COLOURS: list[Words] = [
    ("red", "rot", "rouge", "rojo"),
    ("blue", "blau", "bleu", "azul"),
    ("green", "grün", "vert", "verde"),
    ("yellow", "gelb", "jaune", "amarillo"),
    ("black", "schwarz", "noir", "negro"),
    ("white", "weiß", "blanc", "blanco"),
    ("pink", "rosa", "rose", "rosa"),
    ("grey", "grau", "gris", "gris"),
    ("brown", "braun", "marron", "marrón"),
    ("beige", "beige", "beige", "beige"),
]

ATTRIBUTE_GROUPS: dict[str, dict[str, list[Words]]] = {
    "goods": {
        "colour": _COLOURS,
        "material": [
            ("wood", "holz", "bois", "madera"),
            ("metal", "metall", "métal", "metal"),
            ("glass", "glas", "verre", "vidrio"),
            ("cotton", "baumwolle", "coton", "algodón"),
            ("linen", "leinen", "lin", "lino"),
            ("leather", "leder", "cuir", "cuero"),
            ("ceramic", "keramik", "céramique", "cerámica"),
            ("velvet", "samt", "velours", "terciopelo"),
            ("wool", "wolle", "laine", "lana"),
            ("rattan", "rattan", "rotin", "ratán"),
        ],
        "style": [
            ("modern", "modern", "moderne", "moderno"),
            ("rustic", "rustikal", "rustique", "rústico"),
            ("boho", "boho", "bohème", "bohemio"),
            ("vintage", "vintage", "vintage", "vintage"),
            ("minimalist", "minimalistisch", "minimaliste", "minimalista"),
            ("scandinavian", "skandinavisch", "scandinave", "escandinavo"),
            ("industrial", "industrie", "industriel", "industrial"),
            ("elegant", "elegant", "élégant", "elegante"),
        ],
    },
    "beauty": {
        "colour": _COLOURS,
        "finish": [
            ("matte", "matt", "mat", "mate"),
            ("glossy", "glänzend", "brillant", "brillante"),
            ("glitter", "glitzer", "paillettes", "purpurina"),
            ("natural", "natürlich", "naturel", "natural"),
            ("shimmer", "schimmer", "irisé", "nacarado"),
            ("nude", "nude", "nude", "nude"),
        ],
        "style": [
            ("everyday", "alltag", "quotidien", "diario"),
            ("party", "party", "soirée", "fiesta"),
            ("bridal", "braut", "mariée", "novia"),
            ("easy", "einfach", "facile", "fácil"),
            ("korean", "koreanisch", "coréen", "coreano"),
            ("vintage", "vintage", "vintage", "vintage"),
        ],
    },
    "food": {
        "colour": _COLOURS,
        "ingredient": [
            ("chocolate", "schokolade", "chocolat", "chocolate"),
            ("lemon", "zitrone", "citron", "limón"),
            ("strawberry", "erdbeer", "fraise", "fresa"),
            ("chicken", "hähnchen", "poulet", "pollo"),
            ("tomato", "tomate", "tomate", "tomate"),
            ("pumpkin", "kürbis", "potiron", "calabaza"),
            ("spinach", "spinat", "épinards", "espinacas"),
            ("coconut", "kokos", "coco", "coco"),
            ("cheese", "käse", "fromage", "queso"),
            ("banana", "banane", "banane", "plátano"),
        ],
        "diet": [
            ("vegan", "vegan", "végan", "vegano"),
            ("healthy", "gesund", "sain", "saludable"),
            ("quick", "schnell", "rapide", "rápido"),
            ("gluten free", "glutenfrei", "sans gluten", "sin gluten"),
            ("low carb", "low carb", "faible en glucides", "bajo en carbohidratos"),
            ("homemade", "hausgemacht", "fait maison", "casero"),
        ],
    },
    "travel": {
        "colour": _COLOURS,
        "season": [
            ("summer", "sommer", "été", "verano"),
            ("winter", "winter", "hiver", "invierno"),
            ("spring", "frühling", "printemps", "primavera"),
            ("autumn", "herbst", "automne", "otoño"),
        ],
        "trip": [
            ("budget", "günstig", "petit budget", "económico"),
            ("luxury", "luxus", "luxe", "lujo"),
            ("family", "familie", "famille", "familia"),
            ("romantic", "romantisch", "romantique", "romántico"),
            ("solo", "allein", "solo", "solo"),
            ("weekend", "wochenende", "week-end", "fin de semana"),
        ],
    },
}


@dataclass(frozen=True)
class Category:
    key: str
    words: Words  # the category as people write it in a query
    group: str  # attribute group
    weight: float  # share of pins and queries
    families: dict[str, list[Words]]  # family -> objects


CATEGORIES: list[Category] = [
    Category("home_decor", ("home decor", "wohndeko", "déco maison", "decoración hogar"), "goods", 0.20, {
        "seating": [("sofa", "sofa", "canapé", "sofá"), ("armchair", "sessel", "fauteuil", "sillón"),
                    ("bench", "bank", "banc", "banco")],
        "lighting": [("lamp", "lampe", "lampe", "lámpara"), ("chandelier", "kronleuchter", "lustre", "candelabro"),
                     ("candle", "kerze", "bougie", "vela")],
        "textiles": [("rug", "teppich", "tapis", "alfombra"), ("curtains", "vorhänge", "rideaux", "cortinas"),
                     ("cushion", "kissen", "coussin", "cojín")],
        "storage": [("shelf", "regal", "étagère", "estante"), ("basket", "korb", "panier", "cesta")],
    }),
    Category("fashion", ("outfit", "outfit", "tenue", "outfit"), "goods", 0.18, {
        "clothing": [("dress", "kleid", "robe", "vestido"), ("sweater", "pullover", "pull", "jersey"),
                     ("jacket", "jacke", "veste", "chaqueta")],
        "footwear": [("sneakers", "turnschuhe", "baskets", "zapatillas"), ("boots", "stiefel", "bottes", "botas"),
                     ("sandals", "sandalen", "sandales", "sandalias")],
        "accessories": [("handbag", "handtasche", "sac à main", "bolso"), ("scarf", "schal", "écharpe", "bufanda"),
                        ("hat", "hut", "chapeau", "sombrero")],
    }),
    Category("food", ("recipes", "rezepte", "recettes", "recetas"), "food", 0.16, {
        "baking": [("cake", "kuchen", "gâteau", "pastel"), ("cookies", "kekse", "biscuits", "galletas"),
                   ("bread", "brot", "pain", "pan")],
        "mains": [("pasta", "pasta", "pâtes", "pasta"), ("curry", "curry", "curry", "curry"),
                  ("soup", "suppe", "soupe", "sopa")],
        "drinks": [("smoothie", "smoothie", "smoothie", "batido"), ("cocktail", "cocktail", "cocktail", "cóctel"),
                   ("lemonade", "limonade", "limonade", "limonada")],
    }),
    Category("travel", ("travel", "reisen", "voyage", "viajes"), "travel", 0.10, {
        "coast": [("beach", "strand", "plage", "playa"), ("island", "insel", "île", "isla")],
        "city": [("city break", "städtereise", "city trip", "escapada urbana"),
                 ("museum", "museum", "musée", "museo")],
        "nature": [("mountains", "berge", "montagne", "montañas"), ("lake", "see", "lac", "lago"),
                   ("camping", "camping", "camping", "camping")],
    }),
    Category("diy", ("diy", "basteln", "bricolage", "manualidades"), "goods", 0.10, {
        "woodwork": [("birdhouse", "vogelhaus", "nichoir", "casita para pájaros"),
                     ("picture frame", "bilderrahmen", "cadre photo", "marco de fotos"),
                     ("planter box", "pflanzkasten", "jardinière", "jardinera")],
        "crafts": [("wreath", "kranz", "couronne", "corona"), ("garland", "girlande", "guirlande", "guirnalda"),
                   ("macrame", "makramee", "macramé", "macramé")],
    }),
    Category("beauty", ("beauty", "beauty", "beauté", "belleza"), "beauty", 0.10, {
        "makeup": [("lipstick", "lippenstift", "rouge à lèvres", "pintalabios"),
                   ("eyeshadow", "lidschatten", "fard à paupières", "sombra de ojos"),
                   ("nail art", "nageldesign", "nail art", "uñas decoradas")],
        "hair": [("braid", "zopf", "tresse", "trenza"), ("bob haircut", "bob frisur", "coupe carré", "corte bob"),
                 ("updo", "hochsteckfrisur", "chignon", "recogido")],
    }),
    Category("garden", ("garden", "garten", "jardin", "jardín"), "goods", 0.08, {
        "plants": [("succulents", "sukkulenten", "succulentes", "suculentas"), ("roses", "rosen", "roses", "rosas"),
                   ("herb garden", "kräutergarten", "jardin d'herbes", "huerto de hierbas")],
        "structures": [("raised bed", "hochbeet", "potager surélevé", "bancal elevado"),
                       ("pergola", "pergola", "pergola", "pérgola")],
    }),
    Category("wedding", ("wedding", "hochzeit", "mariage", "boda"), "goods", 0.08, {
        "attire": [("wedding dress", "brautkleid", "robe de mariée", "vestido de novia"),
                   ("veil", "schleier", "voile", "velo")],
        "decor": [("centerpiece", "tischdeko", "centre de table", "centro de mesa"),
                  ("bouquet", "brautstrauß", "bouquet", "ramo"),
                  ("wedding cake", "hochzeitstorte", "gâteau de mariage", "tarta de boda")],
    }),
]

# Pairs of categories that people browse together; a pin from one is marginally
# relevant to a broad query for the other.
RELATED_CATEGORIES: frozenset[frozenset[str]] = frozenset(
    frozenset(p) for p in [("home_decor", "diy"), ("home_decor", "garden"), ("fashion", "beauty"),
                           ("fashion", "wedding"), ("beauty", "wedding"), ("food", "wedding"), ("diy", "garden")]
)

# Titles and descriptions that say nothing about the pin, as many real pins do.
GENERIC_TITLES: dict[str, list[str]] = {
    "en": ["my favourite!", "ideas", "love this", "so pretty", "inspo", "must try", "wow", "new post",
           "IMG_2041", "saved for later", "yes please", "goals"],
    "de": ["meine Lieblinge", "Ideen", "so schön", "toll", "muss ich haben", "Inspiration"],
    "fr": ["mes idées", "j'adore", "trop beau", "inspiration", "à tester", "coup de cœur"],
    "es": ["me encanta", "ideas", "precioso", "inspiración", "quiero esto", "favoritos"],
}
GENERIC_DESCRIPTIONS: dict[str, list[str]] = {
    "en": ["Follow me for more!", "Check out my blog", "Link in bio", "So many ideas here",
           "Photo by me", "Can't wait to try this"],
    "de": ["Folgt mir für mehr!", "Mehr auf meinem Blog", "Foto von mir"],
    "fr": ["Suivez-moi pour plus d'idées !", "Plus sur mon blog", "Photo perso"],
    "es": ["¡Sígueme para más!", "Más en mi blog", "Foto mía"],
}
GENERIC_BOARD_TITLES: dict[str, list[str]] = {
    "en": ["stuff", "ideas", "favourites", "dream", "someday", "misc", "for later", "yes"],
    "de": ["Sachen", "Ideen", "Favoriten", "Traum", "irgendwann"],
    "fr": ["trucs", "idées", "favoris", "rêves", "un jour"],
    "es": ["cosas", "ideas", "favoritos", "sueños", "algún día"],
}
CATEGORY_IDEAS: dict[str, str] = {"en": "{} ideas", "de": "{} ideen", "fr": "idées {}", "es": "ideas {}"}
DESCRIPTION_TEMPLATES: dict[str, list[str]] = {
    "en": ["A {phrase} that works in any {category} project.", "Our favourite {phrase}, easy to love.",
           "Everything you need to know about this {phrase}."],
    "de": ["Ein {phrase} für jedes {category} Projekt.", "Unser liebstes {phrase}."],
    "fr": ["Un {phrase} parfait pour vos idées {category}.", "Notre {phrase} préféré."],
    "es": ["Un {phrase} perfecto para ideas de {category}.", "Nuestro {phrase} favorito."],
}
# Landing pages that tell nothing about the pin: visitors bounce within seconds.
OFF_TOPIC_PAGES: list[tuple[str, str]] = [
    ("Page not found", "Sorry, the page you are looking for does not exist."),
    ("Sign in", "Sign in or create an account to continue."),
    ("Cookie settings", "We use cookies to improve your experience. Accept all cookies?"),
    ("Top 10 deals this week", "Unbelievable discounts on everything. Limited time only!"),
    ("Access denied", "You do not have permission to view this page."),
]
SHOPS: dict[str, str] = {
    "home_decor": "maison-living", "fashion": "streetwear-co", "food": "kitchen-stories", "travel": "wander-guide",
    "diy": "maker-corner", "beauty": "glow-studio", "garden": "green-thumb", "wedding": "bride-book",
}


@dataclass(frozen=True)
class ObjectInfo:
    idx: int
    key: str
    words: Words
    category: int
    family: int
    family_key: str


def objects() -> list[ObjectInfo]:
    """Every object with its category and family index (stable order = stable ids)."""
    out: list[ObjectInfo] = []
    family = 0
    for c, cat in enumerate(CATEGORIES):
        for fam_key, objs in cat.families.items():
            for words in objs:
                out.append(ObjectInfo(len(out), words[0].replace(" ", "_"), words, c, family, fam_key))
            family += 1
    return out


def attribute_slots(category: int) -> list[tuple[str, list[Words]]]:
    """The three (slot name, vocabulary) pairs of a category's attribute group."""
    return list(ATTRIBUTE_GROUPS[CATEGORIES[category].group].items())


def lang_index(lang: str) -> int:
    return LANGS.index(lang)


def phrase(lang: str, obj: str, attrs: list[str]) -> str:
    """Object with attributes in the word order of the language (adjectives after the noun in fr/es)."""
    if lang in ("fr", "es"):
        return " ".join([obj, *reversed(attrs)])
    return " ".join([*attrs, obj])


def related(cat_a: int, cat_b: int) -> bool:
    return frozenset((CATEGORIES[cat_a].key, CATEGORIES[cat_b].key)) in RELATED_CATEGORIES

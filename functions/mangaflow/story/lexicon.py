"""Word lists the offline analysis reads the story with (places, time, weather, feelings, people).

Kept as data so a reader can see at a glance why a scene was judged "night" or "tense".
"""
from __future__ import annotations

# Specific places first: they describe where the panel is drawn better than a city or a town.
PLACES_JA: dict[str, bool] = {  # word -> indoor
    "夏祭り": False, "祭り": False, "店": True, "灯籠屋": True, "病院": True, "部屋": True, "教室": True, "家": True, "台所": True,
    "図書館": True, "工房": True, "駅": True, "神社": False, "寺": False, "屋上": False, "屋根": False,
    "浜辺": False, "砂浜": False, "海岸": False, "港": False, "公園": False, "森": False, "山": False,
    "川": False, "庭": False, "畑": False, "校庭": False, "学校": True, "道": False, "橋": False,
    "灯台": False, "教会": True, "島": False, "湖": False, "洞窟": True, "電車": True, "船": False, "市場": False,
    "城": True, "病室": True, "喫茶店": True, "カフェ": True, "体育館": True, "廊下": True,
    "海": False, "空": False, "港町": False, "町": False, "村": False, "都市": False, "街": False,
}
PLACES_EN: dict[str, bool] = {
    "rooftop garden": False, "rooftop": False, "roof": False, "garden": False, "balcony": False,
    "kitchen": True, "shop": True, "store": True, "hospital": True, "classroom": True, "school": True,
    "academy": True, "library": True, "workshop": True, "bedroom": True, "room": True, "house": True,
    "hall": True, "station": True, "office": True, "castle": True,
    "lighthouse": True, "tavern": True, "church": True, "temple": False, "tower": False, "farm": False,
    "lake": False, "island": False, "cave": True, "train": True, "ship": False, "market": False, "palace": True,
    "beach": False, "shore": False, "harbour": False, "harbor": False, "park": False,
    "forest": False, "mountain": False, "river": False, "bridge": False, "field": False,
    "street": False, "sea": False, "district": False, "village": False, "town": False, "city": False,
}

TIME_JA = [("夜明け", "dawn"), ("明け方", "dawn"), ("夕方", "evening"), ("夕暮れ", "evening"), ("夕日", "evening"),
           ("夜", "night"), ("晩", "night"), ("深夜", "night"), ("朝", "dawn"), ("昼", "day"), ("午後", "day")]
TIME_EN = [("dawn", "dawn"), ("sunrise", "dawn"), ("morning", "dawn"), ("evening", "evening"),
           ("sunset", "evening"), ("dusk", "evening"), ("night", "night"), ("midnight", "night"),
           ("noon", "day"), ("afternoon", "day")]
WEATHER_JA = [("嵐", "storm"), ("雷", "storm"), ("台風", "storm"), ("雪", "snow"), ("雨", "rain")]
WEATHER_EN = [("storm", "storm"), ("thunder", "storm"), ("hurricane", "storm"), ("snow", "snow"),
              ("rain", "rain")]

# Places too broad to draw a panel in: used only when a scene names nothing more specific.
GENERAL_PLACES = {"海", "空", "港町", "町", "村", "都市", "街", "sea", "district", "village", "town", "city"}

# Scene-start markers: a paragraph opening with one of these is a shift in time.
TIME_SHIFT_JA = ("日目", "最終日", "翌日", "翌朝", "次の日", "その夜", "その日", "数日後", "一週間後", "翌年",
                 "ある日", "やがて", "それから", "夜", "朝", "夕方", "最後の", "当日")
TIME_SHIFT_EN = ("one day", "then", "the next day", "next day", "later", "that night", "that evening",
                 "on the last", "on the final", "the following", "meanwhile", "years later", "at last",
                 "finally", "the day", "in the morning", "that morning", "every morning", "at dawn",
                 "when ", "after ", "weeks later", "days later", "by the time", "on the ")
FINAL_MARKERS = ("最終", "最後", "ついに", "とうとう", "last ", "final", "at last", "finally")

EMOTION_WORDS_JA: dict[str, list[str]] = {
    "tension": ["嵐", "停電", "無理", "倒れ", "怒", "叫", "危", "恐", "逃げ", "戦", "真っ暗", "震え", "畳む"],
    "sad": ["泣", "涙", "悲し", "寂し", "別れ", "失", "死"],
    "joy": ["笑", "嬉し", "楽し", "喜", "祭り"],
    "warm": ["灯り", "光", "晴れ", "うなず", "きれい", "再会", "ありがとう", "教え"],
    "mystery": ["謎", "不思議", "秘密", "影", "誰も"],
}
EMOTION_WORDS_EN: dict[str, list[str]] = {
    "tension": ["storm", "recycled", "cleared", "announced", "danger", "afraid", "fight", "shout", "scream",
                "run away", "ran away", "inspectors", "order", "dark", "attack", "destroy"],
    "sad": ["cry", "cried", "tears", "lonely", "lost", "died", "grief", "only one", "left"],
    "joy": ["laugh", "smile", "happy", "delight", "play"],
    "warm": ["green", "alive", "taught", "healthy", "together", "twelve", "hope", "remember", "bloom"],
    "mystery": ["mystery", "secret", "strange", "shadow", "unknown"],
}

# Aliases of one unnamed-but-specific character (kinship terms and the like).
KINSHIP_JA: dict[str, tuple[str, ...]] = {
    "grandfather": ("祖父", "おじいさん", "おじいちゃん", "じいちゃん", "じいさん", "爺さん", "お祖父さん", "祖父さん"),
    "grandmother": ("祖母", "おばあさん", "おばあちゃん", "ばあちゃん", "祖母さん"),
    "mother": ("母", "お母さん", "母さん", "母親"),
    "father": ("父", "お父さん", "父さん", "父親"),
    "teacher": ("先生",),
    "older brother": ("兄", "お兄さん", "兄さん", "兄貴"),
    "older sister": ("姉", "お姉さん", "姉さん"),
}
KIN_GENDER = {"grandfather": "male", "father": "male", "older brother": "male",
              "grandmother": "female", "mother": "female", "older sister": "female"}
KIN_AGE = {"grandfather": "elder", "grandmother": "elder", "mother": "adult", "father": "adult",
           "teacher": "adult", "older brother": "teen", "older sister": "teen"}

GENERIC_JA = {"少女": ("female", "teen"), "少年": ("male", "teen"), "老人": ("unknown", "elder"),
              "男": ("male", "adult"), "女": ("female", "adult"), "男の子": ("male", "child"),
              "女の子": ("female", "child"), "ロボット": ("unknown", "adult"), "旅人": ("unknown", "adult")}
GENERIC_EN = {"girl": ("female", "teen"), "boy": ("male", "teen"), "old man": ("male", "elder"),
              "old woman": ("female", "elder"), "woman": ("female", "adult"), "man": ("male", "adult"),
              "stranger": ("unknown", "adult"), "robot": ("unknown", "adult"), "child": ("unknown", "child"),
              "traveller": ("unknown", "adult"), "traveler": ("unknown", "adult")}

HONORIFICS_JA = ("さん", "くん", "君", "ちゃん", "様", "さま", "先生", "先輩", "殿", "氏")
ROBOT_WORDS = ("robot", "machine", "android", "droid", "automaton", "ロボット", "機械", "アンドロイド")

TITLES_EN = {"inspector", "council", "captain", "doctor", "king", "queen", "mayor", "professor", "detective",
             "sergeant", "officer", "commander", "general", "chief", "lord", "lady", "sir", "mr", "mrs", "ms",
             "dr", "prince", "princess", "emperor", "empress", "president", "minister", "governor"}
GROUPS_EN = {"runaways", "inspectors", "villagers", "soldiers", "townspeople", "guards", "children",
             "students", "robots", "pirates", "knights", "neighbours", "neighbors", "workers", "crowd"}
FEMALE_EN = {"she", "her", "hers", "herself", "girl", "woman", "mother", "sister", "queen", "lady", "mrs", "ms",
             "princess", "daughter", "grandmother", "aunt"}
MALE_EN = {"he", "him", "his", "himself", "boy", "man", "father", "brother", "king", "sir", "mr", "prince",
           "son", "grandfather", "uncle"}

# Capitalised words that are never names even when they recur.
NOT_NAMES_EN = {
    "i", "a", "an", "the", "he", "she", "it", "we", "they", "you", "his", "her", "its", "our", "their", "my",
    "this", "that", "these", "those", "there", "here", "then", "when", "while", "after", "before", "one",
    "every", "each", "some", "no", "not", "yes", "on", "in", "at", "of", "for", "and", "but", "or", "so",
    "together", "later", "soon", "once", "what", "who", "why", "how", "where", "if", "as", "by", "with",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "god", "oh", "ok", "okay", "mr", "mrs", "ms", "dr", "sir", "english", "japanese", "chapter", "someone",
    "everyone", "nobody", "all", "both", "many", "most", "now", "today", "tomorrow", "yesterday", "still",
}
SPEECH_VERBS_EN = ("said", "asked", "replied", "answered", "shouted", "cried", "whispered", "called",
                   "yelled", "screamed", "muttered", "murmured", "added", "explained", "told", "thought",
                   "wondered", "laughed", "sighed", "says", "asks", "shouts", "whispers", "snapped", "begged")
SHOUT_VERBS = ("叫", "怒鳴", "わめ", "shouted", "yelled", "screamed", "cried out", "roared", "shouts", "yells")
THOUGHT_VERBS = ("思っ", "思う", "心の中", "心の声", "考え", "thought", "wondered", "thinks", "wonders")

SFX_EN = {"boom", "bang", "crash", "thud", "whoosh", "splash", "crack", "knock", "ding", "buzz", "zap",
          "pow", "wham", "slam", "creak", "drip", "rumble", "hiss", "snap", "thump", "clang", "beep"}

TRAITS_JA = [("不器用", "clumsy"), ("黙って", "quiet"), ("笑", "cheerful"), ("優し", "kind"), ("元気", "energetic"),
             ("真面目", "earnest"), ("教え", "patient"), ("目指", "ambitious"), ("怒", "hot-tempered"),
             ("泣", "sensitive"), ("うなず", "gentle")]
TRAITS_EN = [("taught", "patient"), ("counted", "meticulous"), ("named each", "tender"), ("run away", "rebellious"),
             ("ran away", "rebellious"), ("gathered", "resourceful"), ("asked", "curious"), ("laugh", "cheerful"),
             ("smile", "warm"), ("old", "weathered"), ("brave", "brave"), ("shout", "hot-tempered"),
             ("looked at it for a long time", "thoughtful"), ("announced", "bureaucratic")]

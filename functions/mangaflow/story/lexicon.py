"""Word lists the offline analysis reads the story with (places, time, weather, feelings, people).

Kept as data so a reader can see at a glance why a scene was judged "night" or "tense".
"""
from __future__ import annotations

# Specific places first: they describe where the panel is drawn better than a city or a town.
PLACES_JA: dict[str, bool] = {  # word -> indoor
    "夏祭り": False, "祭り": False, "店": True, "灯籠屋": True, "病院": True, "部屋": True, "教室": True, "家": True, "台所": True,
    "図書館": True, "工房": True, "駅": False, "神社": False, "寺": False, "屋上": False, "屋根": False,
    "浜辺": False, "砂浜": False, "海岸": False, "港": False, "公園": False, "森": False, "山": False,
    "川": False, "庭": False, "畑": False, "校庭": False, "学校": True, "道": False, "橋": False,
    "灯台": False, "教会": True, "島": False, "湖": False, "洞窟": True, "電車": True, "船": False, "市場": False,
    "城": True, "病室": True, "喫茶店": True, "カフェ": True, "体育館": True, "廊下": True,
    "駅前": False, "ホーム": False, "丘": False, "坂": False, "崖": False, "岬": False, "野原": False, "草原": False,
    "砂漠": False, "墓地": False, "境内": False, "路地": False, "商店街": False, "交番": True, "職員室": True,
    "保健室": True, "図書室": True, "音楽室": True, "玄関": True, "居間": True, "寝室": True, "宿": True,
    "旅館": True, "宮殿": True, "王宮": True, "小屋": True, "パン屋": True, "レストラン": True, "アパート": True,
    "バス停": False, "谷": False, "田んぼ": False, "広場": False,
    "道場": True, "部室": True, "会議室": True, "居酒屋": True, "河原": False, "土手": False, "家庭科室": True,
    "斜面": False, "沢": False, "改札": True, "波打ち際": False, "美術室": True, "理科室": True, "グラウンド": False,
    "プール": False, "事務所": True, "オフィス": True, "会社": True, "工場": True, "屋台": False, "テニスコート": False,
    "弓道場": True, "車内": True, "境内": False, "墓": False, "温泉": False, "縁側": False, "蔵": True, "倉庫": True,
    "ベランダ": False, "バルコニー": False, "診察室": True, "待合室": True, "楽屋": True, "舞台": True, "劇場": True,
    "映画館": True, "コンビニ": True, "スーパー": True, "本屋": True, "書店": True, "花屋": True, "八百屋": True,
    "海": False, "空": False, "港町": False, "町": False, "村": False, "都市": False, "街": False,
}
PLACES_EN: dict[str, bool] = {
    "rooftop garden": False, "rooftop": False, "roof": False, "garden": False, "balcony": False,
    "kitchen": True, "shop": True, "store": True, "hospital": True, "classroom": True, "school": True,
    "academy": True, "library": True, "workshop": True, "bedroom": True, "room": True, "house": True,
    "hall": True, "station": True, "office": True, "castle": True,
    "lighthouse": False, "tavern": True, "church": True, "temple": False, "tower": False, "farm": False,
    "lake": False, "island": False, "cave": True, "train": True, "ship": False, "market": False, "palace": True,
    "beach": False, "shore": False, "harbour": False, "harbor": False, "park": False,
    "forest": False, "mountain": False, "river": False, "bridge": False, "field": False,
    "street": False, "sea": False, "district": False, "village": False, "town": False, "city": False,
    "cliff": False, "hill": False, "meadow": False, "valley": False, "desert": False, "road": False, "path": False,
    "courtyard": False, "yard": False, "graveyard": False, "cemetery": False, "platform": False, "bus stop": False,
    "pier": False, "dock": False, "throne room": True, "ballroom": True, "dungeon": True, "inn": True,
    "cafe": True, "café": True, "bakery": True, "restaurant": True, "apartment": True, "flat": True,
    "cottage": True, "cabin": True, "hut": True, "barn": True, "hallway": True, "corridor": True, "gym": True,
    "police station": True, "laboratory": True, "lab": True, "attic": True, "cellar": True, "kingdom": False,
    "diner": True, "parking lot": False, "car park": False, "gymnasium": True, "bleachers": True,
    "basement": True, "porch": False, "alley": False, "square": False, "bar": True,
    "pub": True, "studio": True, "theatre": True, "theater": True, "stage": True, "clinic": True, "ward": True,
    "dojo": True, "locker room": True, "canteen": True, "cafeteria": True, "deck": False,
    "garage": True, "shed": True, "greenhouse": True, "orchard": False, "vineyard": False, "dune": False,
    "lakeshore": False, "waterfront": False, "lobby": True, "corridor": True, "staircase": True, "stairs": True,
}
# Where a club practises: 柔道部の練習 happens in the dojo, not on a road (道 inside 柔道).
CLUB_VENUES_JA: dict[str, str] = {
    "柔道": "道場", "剣道": "道場", "空手": "道場", "合気道": "道場", "弓道": "弓道場", "野球": "グラウンド",
    "サッカー": "グラウンド", "陸上": "グラウンド", "ラグビー": "グラウンド", "水泳": "プール", "吹奏楽": "音楽室",
    "合唱": "音楽室", "軽音": "部室", "美術": "美術室", "バスケ": "体育館", "バスケットボール": "体育館",
    "バレー": "体育館", "バレーボール": "体育館", "卓球": "体育館", "バドミントン": "体育館", "体操": "体育館",
    "テニス": "テニスコート", "将棋": "部室", "囲碁": "部室", "写真": "部室", "文芸": "部室", "科学": "理科室",
    "演劇": "体育館", "料理": "家庭科室"}

TIME_JA = [("夜明け", "dawn"), ("明け方", "dawn"), ("夕方", "evening"), ("夕暮れ", "evening"), ("夕日", "evening"),
           ("夜", "night"), ("晩", "night"), ("深夜", "night"), ("朝", "dawn"), ("昼", "day"), ("午後", "day")]
TIME_EN = [("dawn", "dawn"), ("sunrise", "dawn"), ("morning", "dawn"), ("evening", "evening"),
           ("sunset", "evening"), ("dusk", "evening"), ("night", "night"), ("midnight", "night"),
           ("noon", "day"), ("afternoon", "day")]
WEATHER_JA = [("嵐", "storm"), ("雷", "storm"), ("台風", "storm"), ("雪", "snow"), ("雨", "rain")]
WEATHER_EN = [("storm", "storm"), ("thunder", "storm"), ("hurricane", "storm"), ("snow", "snow"),
              ("rain", "rain")]

# Places too broad to draw a panel in: used only when a scene names nothing more specific.
GENERAL_PLACES = {"海", "空", "港町", "町", "村", "都市", "街", "sea", "district", "village", "town", "city",
                  "kingdom"}

# Furniture and fittings: a scene that names no place but has these is back indoors, in the last room seen.
INDOOR_HINTS_JA = ("テーブル", "窓際", "椅子", "机", "ベッド", "カウンター", "棚", "畳", "ソファ")
INDOOR_HINTS_EN = ("table", "desk", "chair", "bed", "counter", "shelf", "sofa", "fireplace", "ceiling", "booth")

# Moving somewhere: a line that takes a figure to a new place starts a new scene.
MOVE_JA = ("入っ", "入り", "入る", "向か", "行っ", "行き", "行く", "着い", "着く", "戻っ", "戻る", "帰っ", "帰る",
           "上っ", "登っ", "登る", "登り", "出かけ", "歩い", "走っ", "駆け", "やって来", "やってき", "来た", "下り",
           "下っ", "下る", "降り", "降り", "移っ", "寄っ", "集ま")
MOVE_EN = ("went", "walked", "entered", "arrived", "climbed", "ran", "came", "stepped", "headed", "returned",
           "hurried", "drove", "rode", "sailed", "moved", "wandered", "reached", "crossed", "set off", "followed",
           "carried", "took", "waited", "stood")

# A sentence that reports the past or hearsay: people named there are remembered, not on stage.
ABSENT_JA = ("らしい", "という", "とのこと", "そうだ", "年前", "かつて", "昔", "生前", "亡くな", "亡き", "思い出")
ABSENT_EN = ("years ago", "long ago", "used to", "remembered", "remember", "memory of", "memories of", "had died",
             "died", "the late ", "in those days", "once told", "always said", "told me about", "told her about",
             "told him about", "told them about", "talked about", "spoke of", "letter from", "dreamed of", "photo of",
             "photograph of", "picture of")

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
    "older brother": ("兄", "お兄さん", "兄さん", "兄貴", "お兄ちゃん"),
    "older sister": ("姉", "お姉さん", "姉さん", "お姉ちゃん"),
    "younger brother": ("弟",),
    "younger sister": ("妹",),
    "aunt": ("叔母", "伯母", "叔母さん", "伯母さん"),
    "uncle": ("叔父", "伯父", "叔父さん", "伯父さん"),
}
KIN_GENDER = {"grandfather": "male", "father": "male", "older brother": "male", "younger brother": "male",
              "uncle": "male", "husband": "male", "son": "male", "grandmother": "female", "mother": "female",
              "older sister": "female", "younger sister": "female", "aunt": "female", "wife": "female",
              "daughter": "female"}
KIN_AGE = {"grandfather": "elder", "grandmother": "elder", "mother": "adult", "father": "adult",
           "teacher": "adult", "older brother": "teen", "older sister": "teen", "younger brother": "child",
           "younger sister": "child", "aunt": "adult", "uncle": "adult"}

HONORIFICS_JA = ("さん", "くん", "君", "ちゃん", "様", "さま", "先生", "先輩", "殿", "氏")
# Titles that follow a name (佐藤部長) or stand alone for the one person who holds them (部長).
TITLES_JA = ("先生", "部長", "先輩", "課長", "社長", "監督", "キャプテン", "会長", "店長", "係長", "隊長", "師匠",
             "親方", "委員長", "主将", "船長", "院長", "校長")
# Words that stand for a named person in "<word>の<name>" (妻の千代, 兄の大樹) and alone afterwards.
APPOSITION_KIN_JA: dict[str, str] = {"妻": "wife", "夫": "husband", "娘": "daughter", "息子": "son"}
# Descriptions that may introduce a name (マネージャーの小川ユイ) but are not used for the person alone.
APPOSITION_ROLES_JA = ("マネージャー", "担任", "学級委員", "部員", "友人", "親友", "同僚", "上司", "部下", "後輩",
                       "幼なじみ", "新入り", "孫", "主人", "店主", "隣人", "相棒", "転校生", "新人")
ROBOT_WORDS = ("robot", "machine", "android", "droid", "automaton", "ロボット", "機械", "アンドロイド")

TITLES_EN = {"inspector", "council", "captain", "doctor", "king", "queen", "mayor", "professor", "detective",
             "sergeant", "officer", "commander", "general", "chief", "lord", "lady", "sir", "mr", "mrs", "ms",
             "dr", "prince", "princess", "emperor", "empress", "president", "minister", "governor", "coach",
             "grandma", "grandpa", "granny", "aunt", "auntie", "uncle", "capt", "prof", "sgt", "lt", "miss"}
# A role noun ("the captain", "my grandmother") and the titles that name the same position.
TITLE_OF_ROLE_EN: dict[str, tuple[str, ...]] = {
    "captain": ("captain", "capt"), "doctor": ("dr", "doctor"), "coach": ("coach",),
    "grandmother": ("grandma", "granny"), "grandma": ("grandma", "granny"), "grandfather": ("grandpa",),
    "grandpa": ("grandpa",), "professor": ("professor", "prof"), "detective": ("detective",),
    "king": ("king",), "queen": ("queen",), "prince": ("prince",), "princess": ("princess",),
    "aunt": ("aunt", "auntie"), "uncle": ("uncle",), "mayor": ("mayor",), "sergeant": ("sergeant", "sgt"),
    "inspector": ("inspector",), "officer": ("officer",)}
ROLE_OF_TITLE_EN = {"captain": "captain", "capt": "captain", "dr": "doctor", "doctor": "doctor", "coach": "coach",
                    "professor": "professor", "prof": "professor", "detective": "detective", "mayor": "mayor",
                    "sergeant": "sergeant", "inspector": "inspector"}
KIN_OF_TITLE_EN = {"grandma": "grandmother", "granny": "grandmother", "grandpa": "grandfather", "aunt": "aunt",
                   "auntie": "aunt", "uncle": "uncle"}
# Kinship nouns that introduce a named person ("her brother Erik", "my mother, Ruth Hale").
KIN_ROLES_EN = ("brother", "sister", "son", "daughter", "wife", "husband", "aunt", "uncle", "cousin", "friend",
                "mother", "father", "grandmother", "grandfather", "boss", "partner")
GROUPS_EN = {"runaways", "inspectors", "villagers", "soldiers", "townspeople", "guards", "children",
             "students", "robots", "pirates", "knights", "neighbours", "neighbors", "workers", "crowd"}
FEMALE_EN = {"she", "her", "hers", "herself", "girl", "woman", "mother", "sister", "queen", "lady", "mrs", "ms",
             "princess", "daughter", "grandmother", "aunt"}
MALE_EN = {"he", "him", "his", "himself", "boy", "man", "father", "brother", "king", "sir", "mr", "prince",
           "son", "grandfather", "uncle"}

# Last (or any) words of a capitalised phrase that make it a place, a body or a thing, not a person.
NOT_PERSON_WORDS_EN = {
    "high", "school", "street", "road", "avenue", "lane", "creek", "river", "lake", "park", "hall", "academy",
    "council", "company", "station", "hospital", "church", "bay", "island", "mountain", "mountains", "hill",
    "route", "bridge", "city", "town", "county", "university", "college", "club", "team", "house", "hotel",
    "market", "square", "valley", "forest", "ocean", "sea", "north", "south", "east", "west", "day", "christmas",
    "year", "new", "old", "great", "united", "states", "kingdom", "empire", "republic", "war", "times", "news"}
# Capitalised words that are never names even when they recur.
NOT_NAMES_EN = {
    "i", "a", "an", "the", "he", "she", "it", "we", "they", "you", "his", "her", "its", "our", "their", "my",
    "this", "that", "these", "those", "there", "here", "then", "when", "while", "after", "before", "one",
    "every", "each", "some", "no", "not", "yes", "on", "in", "at", "of", "for", "and", "but", "or", "so",
    "together", "later", "soon", "once", "what", "who", "why", "how", "where", "if", "as", "by", "with",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "god", "oh", "ok", "okay", "mr", "mrs", "ms", "dr", "sir", "english", "japanese", "chapter", "someone",
    "everyone", "everybody", "somebody", "anybody", "nobody", "all", "both", "many", "most", "now", "today", "tomorrow", "yesterday", "still",
}
SPEECH_VERBS_EN = ("said", "asked", "replied", "answered", "shouted", "cried", "whispered", "called",
                   "yelled", "screamed", "muttered", "murmured", "added", "explained", "told", "thought",
                   "wondered", "laughed", "sighed", "says", "asks", "shouts", "whispers", "snapped", "begged",
                   "say", "ask", "tell", "shout", "whisper", "reply", "answer", "mutter", "add", "insisted",
                   "agreed", "admitted", "warned", "announced", "demanded", "protested", "promised")
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

# Unnamed figures by role: noun -> (gender, age, kind). Two-word roles are matched before their heads,
# so "the old woman" is one figure and a later "the woman" is read as her.
ROLES_EN: dict[str, tuple[str, str, str]] = {
    "old woman": ("female", "elder", "person"), "old man": ("male", "elder", "person"),
    "old lady": ("female", "elder", "person"), "young woman": ("female", "adult", "person"),
    "young man": ("male", "adult", "person"), "little girl": ("female", "child", "person"),
    "little boy": ("male", "child", "person"), "girl": ("female", "teen", "person"), "boy": ("male", "teen", "person"),
    "woman": ("female", "adult", "person"), "man": ("male", "adult", "person"), "lady": ("female", "adult", "person"),
    "child": ("unknown", "child", "person"), "kid": ("unknown", "child", "person"),
    "fisherman": ("male", "adult", "person"), "king": ("male", "adult", "person"),
    "queen": ("female", "adult", "person"), "princess": ("female", "teen", "person"),
    "prince": ("male", "teen", "person"), "teacher": ("unknown", "adult", "person"),
    "stranger": ("unknown", "adult", "person"), "soldier": ("unknown", "adult", "person"),
    "doctor": ("unknown", "adult", "person"), "nurse": ("female", "adult", "person"),
    "mother": ("female", "adult", "person"), "father": ("male", "adult", "person"),
    "grandmother": ("female", "elder", "person"), "grandfather": ("male", "elder", "person"),
    "grandma": ("female", "elder", "person"), "grandpa": ("male", "elder", "person"),
    "robot": ("unknown", "adult", "robot"), "android": ("unknown", "adult", "robot"),
    "traveller": ("unknown", "adult", "person"), "traveler": ("unknown", "adult", "person"),
    "knight": ("male", "adult", "person"), "witch": ("female", "adult", "person"),
    "wizard": ("male", "elder", "person"), "farmer": ("unknown", "adult", "person"),
    "merchant": ("unknown", "adult", "person"), "baker": ("unknown", "adult", "person"),
    "sailor": ("male", "adult", "person"), "captain": ("unknown", "adult", "person"),
    "guard": ("unknown", "adult", "person"), "priest": ("male", "adult", "person"),
    "monk": ("male", "adult", "person"), "hunter": ("unknown", "adult", "person"),
    "shepherd": ("unknown", "adult", "person"), "innkeeper": ("unknown", "adult", "person"),
    "shopkeeper": ("unknown", "adult", "person"), "driver": ("unknown", "adult", "person"),
    "detective": ("unknown", "adult", "person"), "professor": ("unknown", "adult", "person"),
    "woodcutter": ("male", "adult", "person"), "miller": ("male", "adult", "person"),
    "mayor": ("unknown", "adult", "person"), "servant": ("unknown", "adult", "person"),
    "maid": ("female", "adult", "person"), "widow": ("female", "adult", "person"),
    "orphan": ("unknown", "child", "person"), "student": ("unknown", "teen", "person"),
    "waiter": ("male", "adult", "person"), "waitress": ("female", "adult", "person"),
    "policeman": ("male", "adult", "person"), "officer": ("unknown", "adult", "person"),
    "thief": ("unknown", "adult", "person"), "lighthouse keeper": ("unknown", "elder", "person"),
    "keeper": ("unknown", "adult", "person"), "visitor": ("unknown", "adult", "person"),
    "neighbour": ("unknown", "adult", "person"), "neighbor": ("unknown", "adult", "person"),
    "pilot": ("unknown", "adult", "person"), "musician": ("unknown", "adult", "person"),
    "brother": ("male", "teen", "person"), "sister": ("female", "teen", "person"), "son": ("male", "child", "person"),
    "daughter": ("female", "child", "person"), "wife": ("female", "adult", "person"),
    "husband": ("male", "adult", "person"), "aunt": ("female", "adult", "person"),
    "uncle": ("male", "adult", "person"), "clerk": ("unknown", "adult", "person"),
    "coach": ("unknown", "adult", "person"), "first mate": ("unknown", "adult", "person"),
    "scorekeeper": ("unknown", "teen", "person"),
}
# Determiners that make a role noun a person on stage ("the king", "her mother", "a soldier").
ROLE_DETERMINERS_EN = ("the", "a", "an", "his", "her", "my", "their", "our", "your", "this", "that")
# Adjectives that make the noun someone else ("the other man") or several people.
ROLE_BREAKERS_EN = {"other", "another", "second", "third", "first", "two", "three", "some", "many", "every",
                    "each", "no", "any", "whole"}

ROLES_JA: dict[str, tuple[str, str, str]] = {
    "老人": ("male", "elder", "person"), "老婆": ("female", "elder", "person"), "少女": ("female", "teen", "person"),
    "少年": ("male", "teen", "person"), "青年": ("male", "adult", "person"), "男": ("male", "adult", "person"),
    "女": ("female", "adult", "person"), "男性": ("male", "adult", "person"), "女性": ("female", "adult", "person"),
    "男の子": ("male", "child", "person"), "女の子": ("female", "child", "person"),
    "子ども": ("unknown", "child", "person"), "子供": ("unknown", "child", "person"),
    "娘": ("female", "teen", "person"), "息子": ("male", "teen", "person"), "店主": ("unknown", "adult", "person"),
    "医者": ("unknown", "adult", "person"), "王": ("male", "adult", "person"), "王様": ("male", "adult", "person"),
    "女王": ("female", "adult", "person"), "姫": ("female", "teen", "person"), "王女": ("female", "teen", "person"),
    "王子": ("male", "teen", "person"), "兵士": ("male", "adult", "person"), "騎士": ("male", "adult", "person"),
    "魔女": ("female", "adult", "person"), "旅人": ("unknown", "adult", "person"),
    "ロボット": ("unknown", "adult", "robot"), "漁師": ("male", "adult", "person"), "猟師": ("male", "adult", "person"),
    "商人": ("unknown", "adult", "person"), "看護師": ("female", "adult", "person"), "警官": ("unknown", "adult", "person"),
    "おまわりさん": ("unknown", "adult", "person"), "店員": ("unknown", "adult", "person"),
    "運転手": ("unknown", "adult", "person"), "船長": ("male", "adult", "person"), "灯台守": ("unknown", "elder", "person"),
    "侍": ("male", "adult", "person"), "探偵": ("unknown", "adult", "person"), "刑事": ("unknown", "adult", "person"),
    "博士": ("unknown", "elder", "person"), "校長": ("unknown", "elder", "person"), "魔法使い": ("unknown", "elder", "person"),
}
# First-person narrators: pronoun -> gender of the voice.
NARRATOR_JA = {"僕": "male", "俺": "male", "私": "unknown", "わたし": "unknown", "ぼく": "male", "あたし": "female",
               "おれ": "male"}

# Everyday words that open sentences ("Light swept across the water"): capitalised there, never names.
COMMON_WORDS_EN = set("""
light dark darkness night morning evening afternoon noon dawn dusk day days week weeks month months year years
hour hours minute minutes moment time times rain snow wind winds water waves fire smoke dust fog mist sun moon
stars sky clouds thunder lightning storm ice frost spring summer autumn fall winter silence sound sounds noise
noises music voices footsteps steps people children men women everything nothing something anything somewhere
nowhere everywhere inside outside above below beyond behind across along through around beneath between under
over down up out off suddenly slowly quickly finally eventually meanwhile perhaps maybe only even just again
also yet though although because since until unless whether instead nobody everybody anybody anyone none few
several such other another long short high low far near good bad new young little big small great first last
next two three four five six seven eight nine ten eleven twelve twenty hundred hundreds thousand thousands
home school work breakfast lunch dinner tea coffee bread food please thanks thank hello goodbye sorry welcome
well why look listen wait come go stop run help tell let take give keep turn open close hands eyes faces
leaves trees flowers grass birds birdsong blood tears rust rain heavy cold warm hot dry wet quiet loud soft
hard slow fast old gold silver iron stone glass paper wood snowflakes shadows shadow lights lamps fires
somehow sometimes often always never usually once twice back forward together alone below upstairs
downstairs outside nearby inside beside besides still soon later now then there here this that these those
maybe yes no nor both either neither most more less much many all half whatever whoever whenever wherever
everyone someone truth love hope fear anger joy grief sleep dreams dream memory memories life death news
word words letters letter nights mornings evenings hopefully luckily unfortunately sadly happily strangely
""".split())

"""What the review page shows, read from a request's state: the seven phases and where each
stands, the open gate and its phase's preview (built from the version shown), the versions and
a comparison of two, in the words of the request's language."""
from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

from ..bootstrap import Stores
from ..hitl import options
from ..phases import registry
from ..render.pages import PAGE_SIZE_PX, panel_rects_px

WORDS = {
    "en": {"title": "Review", "phase": "Phase", "waiting": "waiting for you", "running": "working", "done": "done",
           "pending": "to come", "approve": "Approve", "modify": "Modify", "skip": "Skip the remaining gates",
           "feedback": "What should change?", "quick": "Quick changes", "versions": "Versions", "compare": "Compare",
           "revert": "Go on with this version", "score": "score", "attempt": "attempt", "shown": "shown",
           "deadline": "Answer by", "completed": "The book is finished.", "failed": "The run failed.",
           "cancelled": "The run was cancelled.", "working": "Working on it: this page follows along.",
           "download_pdf": "Download PDF", "download_cbz": "Download CBZ", "checks": "Final checks",
           "bubbles": "Bubble editor", "bubble": "Bubble", "move": "Move", "size": "Size", "shape": "Shape",
           "text": "Text", "send_edit": "Re-letter this page",
           "cost": "cost so far ${usd:.4f} at list price ({provider}: {text} text and {image} image calls, {cache} from the cache)",
           "budget": ", budget ${budget:.2f}", "budget_stopped": ": the budget is spent, the rest is drawn procedurally",
           "redo": "Redo one panel", "redo_words": "What should change (optional: close-up, wide, at night, in the rain...)",
           "send_redo": "Redraw this panel", "redo_note": "Only this panel is drawn again; every other panel stays as it is.", "no_change": "keep", "up": "up", "down": "down",
           "left": "left", "right": "right", "bigger": "bigger", "smaller": "smaller", "not_offered": "Not offered",
           "modify_error": "Your modification could not be made; the gate is open again on the version shown before:",
           "modify_error_next": "Approve this version, try another change, or skip.",
           "max_mods": "Three modifications were made already: approve a version or skip.",
           "link_decided": "The gate this link was sent for (phase {phase}) was already decided: {decision}.",
           "sent": "Sent: {decision}.", "story": "Story", "full": "full size", "page": "Page", "panel": "Panel",
           "arc": "Emotional arc", "scenes": "Scenes", "characters": "Characters", "concept": "Concept",
           "storyboard": "Storyboard", "plot": "Plot", "images": "Panel images", "panels": "Panel images",
           "lettering": "Lettered pages", "final": "The book", "field": "Field", "from": "from", "to": "to",
           "unchanged": "no differences", "changed": "changed", "to_answer": "Go to the answer",
           "gate_waiting": "Phase {phase} is waiting for your answer", "answer": "Your answer",
           "cannot_apply": "This change cannot be made:", "gate_still_open": "The gate is still open on the version shown.",
           "paper": "paper", "page_numbers": "page numbers", "files": "files", "on": "on", "off": "off",
           "aliases": "also called", "palette": "colours", "quote_open": "“", "quote_close": "”",
           "thought_open": "(", "thought_close": ")",
           "reopen": "Reopen at this phase", "reopen_at": "Change something after the end:",
           "reopen_note": "Earlier phases are kept; this phase's gate opens on its current version; unchanged work after it is reused.",
           "reopened": "Reopened at phase {phase}."},
    "ja": {"title": "レビュー", "phase": "フェーズ", "waiting": "確認待ち", "running": "処理中", "done": "完了",
           "pending": "未着手", "approve": "承認", "modify": "修正を依頼", "skip": "残りの確認をすべて省略",
           "feedback": "どこを直しますか？", "quick": "クイック修正", "versions": "バージョン", "compare": "比較",
           "revert": "この版で進める", "score": "スコア", "attempt": "試行", "shown": "表示中",
           "deadline": "回答期限", "completed": "本が完成しました。", "failed": "処理が失敗しました。",
           "cancelled": "キャンセルされました。", "working": "処理中です。このページは自動で更新されます。",
           "download_pdf": "PDFをダウンロード", "download_cbz": "CBZをダウンロード", "checks": "最終チェック",
           "bubbles": "吹き出しエディタ", "bubble": "吹き出し", "move": "移動", "size": "大きさ", "shape": "形",
           "text": "セリフ", "send_edit": "このページを描き直す",
           "cost": "ここまでの費用 ${usd:.4f}（定価、{provider}：テキスト{text}回・画像{image}回、キャッシュ{cache}件）",
           "budget": "、予算 ${budget:.2f}", "budget_stopped": "：予算を使い切ったため、残りは自動描画の絵コンテです",
           "redo": "コマを描き直す", "redo_words": "変えたいこと（任意：アップ、引き、夜、雨など）",
           "send_redo": "このコマを描き直す", "redo_note": "このコマだけを描き直し、ほかのコマはそのまま残します。", "no_change": "そのまま", "up": "上", "down": "下",
           "left": "左", "right": "右", "bigger": "大きく", "smaller": "小さく", "not_offered": "未対応",
           "modify_error": "修正を反映できませんでした。前の版のまま確認を再開しています：",
           "modify_error_next": "この版を承認するか、別の修正を依頼するか、省略してください。",
           "max_mods": "修正は3回までです。版を選んで承認するか、省略してください。",
           "link_decided": "このリンクの確認（フェーズ{phase}）は回答済みです：{decision}。",
           "sent": "送信しました：{decision}。", "story": "ストーリー", "full": "原寸", "page": "ページ", "panel": "コマ",
           "arc": "感情曲線", "scenes": "シーン", "characters": "キャラクター", "concept": "コンセプト",
           "storyboard": "ネーム", "plot": "プロット", "images": "コマ画像", "panels": "コマ画像",
           "lettering": "写植済みページ", "final": "完成した本", "field": "項目", "from": "前", "to": "後",
           "unchanged": "違いはありません", "changed": "変更あり", "to_answer": "回答欄へ",
           "gate_waiting": "フェーズ{phase}があなたの回答を待っています", "answer": "回答",
           "cannot_apply": "この修正はできません：", "gate_still_open": "確認は表示中の版のまま開いています。",
           "paper": "判型", "page_numbers": "ノンブル", "files": "ファイル", "on": "あり", "off": "なし",
           "aliases": "別名", "palette": "配色", "quote_open": "「", "quote_close": "」",
           "thought_open": "（", "thought_close": "）",
           "reopen": "このフェーズから再開", "reopen_at": "完成後に直す：",
           "reopen_note": "前のフェーズはそのまま使い、このフェーズの確認を今の版で開きます。変わらない作業は再利用されます。",
           "reopened": "フェーズ{phase}から再開しました。"},
}

# What the pages a link can lead to say: a forged or expired link, a gate already answered, and
# the errors a browser can meet; each says what to do next.
NOTICES = {
    "en": {"next": "What you can do",
           "forged_title": "This link is not valid",
           "forged": "It does not match an approval gate of this request: part of it was probably lost or changed "
                     "when it was copied.",
           "forged_step1": "Open the link again exactly as you received it, all of it, including the part after "
                           "“#token=”.",
           "ask_new": "Ask the person who started the request for a new link; this command prints the link of the "
                      "gate waiting now:",
           "expired_title": "This link has expired",
           "expired": "It was for the approval gate after phase {phase}, which took answers until {deadline}.",
           "expired_timeout": "Nobody answered in time, so the run went on with the version shown (no answer means "
                              "continue).",
           "expired_decided": "It was answered before then: {decision}.",
           "expired_open": "The run goes on with the version shown.",
           "ask_newest": "To follow the request or answer a later gate, ask the person who started it for the newest "
                         "link; this command prints it:",
           "decided_title": "This gate was already answered",
           "decided": "The approval gate after phase {phase} was answered: {decision} ({who}, {when}).",
           "now_open": "Phase {phase} is waiting for an answer now.",
           "now_completed": "The book is finished: its pages, PDF and CBZ are on the review page.",
           "now_failed": "The run failed: the review page says why.",
           "now_cancelled": "The run was cancelled.",
           "now_working": "The run is working on the next phases; the review page follows along.",
           "open_answer": "Answer phase {phase} now", "open_book": "See the finished book", "open_page": "Open the review page",
           "who_review-page": "on the review page", "who_chat": "in the chat", "who_cli:review": "at the command line",
           "who_cli:auto-approve": "approved automatically by the command line", "who_workflow:skip": "skipped with an earlier gate",
           "who_timeout": "nobody answered in time", "who": "by {who}",
           "no_token_title": "This link has no approval token",
           "no_token": "The part of the link after “#”, which carries its token, did not reach this page.",
           "generic_step": "Open the link exactly as you received it; if it still fails, ask for a new one.",
           "retry_step": "Wait a moment, then reload this page.",
           "reload_step": "Reload the review page to see where the request is now."},
    "ja": {"next": "次にできること",
           "forged_title": "このリンクは無効です",
           "forged": "このリクエストの確認リンクと一致しません。コピーの途中で一部が欠けたか、書き換えられた可能性があります。",
           "forged_step1": "受け取ったリンクを「#token=」以降も含めて、そのまま開き直してください。",
           "ask_new": "それでも開けない場合は、リクエストした人に新しいリンクを頼んでください。いま回答待ちの確認のリンクは次のコマンドで表示できます：",
           "expired_title": "このリンクは期限切れです",
           "expired": "フェーズ{phase}の確認用のリンクで、回答の受付は{deadline}まででした。",
           "expired_timeout": "期限内に回答がなかったため、表示されていた版のまま処理が進みました（回答なしは「続行」の意味です）。",
           "expired_decided": "期限前に回答済みです：{decision}。",
           "expired_open": "表示されていた版のまま処理が進みます。",
           "ask_newest": "続きを確認したり、次の確認に回答したりするには、リクエストした人に最新のリンクを頼んでください。次のコマンドで表示できます：",
           "decided_title": "この確認は回答済みです",
           "decided": "フェーズ{phase}の確認は回答済みです：{decision}（{who}、{when}）。",
           "now_open": "いまはフェーズ{phase}が回答を待っています。",
           "now_completed": "本が完成しました。ページ、PDF、CBZはレビューページにあります。",
           "now_failed": "処理が失敗しました。理由はレビューページに表示されます。",
           "now_cancelled": "処理はキャンセルされました。",
           "now_working": "次のフェーズを処理中です。レビューページで進み具合を確認できます。",
           "open_answer": "フェーズ{phase}に回答する", "open_book": "完成した本を見る", "open_page": "レビューページを開く",
           "who_review-page": "レビューページで", "who_chat": "チャットで", "who_cli:review": "コマンドラインで",
           "who_cli:auto-approve": "コマンドラインの自動承認で", "who_workflow:skip": "前の確認での省略により",
           "who_timeout": "期限内に回答なし", "who": "{who}",
           "no_token_title": "このリンクには確認用のトークンがありません",
           "no_token": "リンクの「#」以降（確認用のトークン）がこのページに届いていません。",
           "generic_step": "受け取ったリンクをそのまま開き直してください。それでも開けない場合は新しいリンクを頼んでください。",
           "retry_step": "少し待ってから、このページを再読み込みしてください。",
           "reload_step": "レビューページを再読み込みして、いまの状況を確認してください。"},
}


# The words of the values a phase writes (enums of the data model), as the page shows them.
LABELS = {
    "en": {"approve": "approved", "modify": "modified", "skip": "skipped", "timeout": "no answer in time (went on)",
           "title": "title", "genre": "genre", "tone": "tone", "theme": "theme", "themes": "themes",
           "target_audience": "audience", "world_setting": "world", "keywords": "keywords",
           "estimated_pages": "pages", "summary": "summary",
           "protagonist": "protagonist", "deuteragonist": "deuteragonist", "supporting": "supporting", "minor": "minor",
           "kishotenketsu": "kishōtenketsu (four acts)", "three_act": "three acts", "ki": "ki (setup)",
           "sho": "shō (development)", "ten": "ten (twist)", "ketsu": "ketsu (conclusion)", "setup": "setup",
           "confrontation": "confrontation", "resolution": "resolution",
           "wide": "wide", "birds_eye": "bird's-eye", "worms_eye": "worm's-eye", "medium": "medium", "bust": "bust",
           "close_up": "close-up", "splash": "splash", "large": "large", "small": "small",
           "establishing": "establishing", "dialogue": "dialogue", "action": "action", "reaction": "reaction",
           "atmosphere": "atmosphere", "detail": "detail", "climax": "climax",
           "oval": "round", "cloud": "cloud", "burst": "spiky", "rect": "square", "serif": "serif", "sans": "sans",
           "simplified": "simplified art", "placeholder": "placeholder art",
           "visual_consistency": "visual consistency", "narrative_coherence": "narrative coherence",
           "technical_quality": "technical quality", "readability": "readability", "pacing": "pacing",
           "character_development": "character development", "artistic_appeal": "artistic appeal",
           "overall": "overall", "quotes_lettered": "quoted lines lettered", "text_overflow": "text overflowing"},
    "ja": {"approve": "承認", "modify": "修正", "skip": "省略", "timeout": "期限切れ（そのまま続行）",
           "title": "タイトル", "genre": "ジャンル", "tone": "トーン", "theme": "テーマ", "themes": "テーマ一覧",
           "target_audience": "対象読者", "world_setting": "舞台", "keywords": "キーワード",
           "estimated_pages": "想定ページ数", "summary": "あらすじ",
           "shonen": "少年", "shojo": "少女", "seinen": "青年", "josei": "女性", "kodomo": "子ども向け",
           "somber": "沈んだ", "serious": "シリアス", "bittersweet": "ほろ苦い", "warm": "あたたかい",
           "hopeful": "希望に満ちた", "bright": "明るい",
           "protagonist": "主人公", "deuteragonist": "準主役", "supporting": "脇役", "minor": "端役",
           "kishotenketsu": "起承転結", "three_act": "三幕構成", "ki": "起", "sho": "承", "ten": "転", "ketsu": "結",
           "setup": "導入", "confrontation": "対立", "resolution": "解決",
           "calm": "静か", "joy": "喜び", "tension": "緊張", "sad": "悲しみ", "climax": "クライマックス",
           "mystery": "謎", "wide": "引き", "birds_eye": "俯瞰", "worms_eye": "アオリ", "medium": "ミディアム",
           "bust": "バストアップ", "close_up": "アップ", "splash": "見開き大ゴマ", "large": "大ゴマ",
           "small": "小ゴマ", "establishing": "状況説明", "dialogue": "会話", "action": "動き", "reaction": "リアクション",
           "atmosphere": "情景", "detail": "ディテール",
           "oval": "丸", "cloud": "もくもく", "burst": "ギザギザ", "rect": "四角", "serif": "明朝体", "sans": "ゴシック体",
           "simplified": "簡略画", "placeholder": "仮の絵",
           "visual_consistency": "絵の一貫性", "narrative_coherence": "物語のつながり", "technical_quality": "技術的な品質",
           "readability": "読みやすさ", "pacing": "テンポ", "character_development": "キャラクターの描写",
           "artistic_appeal": "絵の魅力", "overall": "総合", "quotes_lettered": "セリフの写植率",
           "text_overflow": "はみ出した文字"},
}


def labeller(language: str) -> Any:
    """The page's `say` filter: a data-model value in the page's words (unknown values as written)."""
    words = LABELS.get(language, LABELS["en"])

    def say(value: Any) -> str:
        text = str(value if value is not None else "")
        return words.get(text) or LABELS["en"].get(text) or text

    return say


PAGE_BOX = (210, 296)  # a storyboard thumbnail, in CSS pixels (B5 proportions)


class Links:
    """URLs of the page and its sub-resources, all under the review function's own path."""

    def __init__(self, root: str, query: dict[str, str]) -> None:
        self.root, self.query = root, query

    def _url(self, sub: str, **params: Any) -> str:
        return f"{self.root}/{sub}?" + urlencode({**self.query, **{k: v for k, v in params.items() if v is not None}})

    def page(self, **params: Any) -> str:
        return f"{self.root}?" + urlencode({**self.query, **params})

    def thumb(self, uri: str) -> str:
        return self._url("image", uri=uri, size="thumb")

    def full(self, uri: str, download: bool = False) -> str:
        return self._url("image", uri=uri, download="1" if download else None)

    def lettered(self, attempt: int, page: int) -> str:
        return self._url("lettered", attempt=attempt, page=page)

    def font(self, key: str) -> str:
        return self._url("font", key=key)

    def events(self) -> str:
        return self._url("events")


def whole_attempts(runs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["attempt"]): r for r in runs if r.get("panel_id") is None and r.get("status") == "succeeded"
            and r.get("output_uri")}


def steps(state: dict[str, Any], gate: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each of the seven phases: done, running, waiting (its gate is open) or pending."""
    by_phase = {p["phase"]: p for p in state.get("phases", [])}
    current = int(state.get("current_phase") or 1)
    ended = state.get("status") in ("completed", "failed", "cancelled")
    out = []
    for plugin in registry.phases():
        record = by_phase.get(plugin.number, {})
        decided = [g for g in record.get("gates", []) if g.get("decided_at") or g.get("timed_out")]
        runs = whole_attempts(record.get("attempts", []))
        if gate is not None and int(gate["phase"]) == plugin.number:
            status = "waiting"
        elif state.get("status") == "completed" or plugin.number < current:
            status = "done"
        elif plugin.number == current and not ended:
            status = "running"
        else:
            status = "pending"
        best = max((float(r.get("score") or 0) for r in runs.values()), default=None)
        out.append({"number": plugin.number, "key": plugin.key, "status": status, "score": best,
                    "decision": (decided[-1].get("decision") or "timeout") if decided else None})
    return out


# Outputs and previews are stored content-addressed (`<sha256>.json`): an object under such a name
# never changes, so the page reads each once per process. The values are shared: read them, never
# change them.
_ADDRESSED = re.compile(r"/[0-9a-f]{64}\.json$")
_READ: OrderedDict[str, Any] = OrderedDict()
_READ_LOCK = threading.Lock()
_READ_MAX = 256


def read_json(stores: Stores, uri: str) -> Any:
    """The JSON object at `uri`, from this process's cache when its name is its content's hash."""
    if not _ADDRESSED.search(uri):
        return stores.artifacts.get_json(uri)
    with _READ_LOCK:
        if uri in _READ:
            _READ.move_to_end(uri)
            return _READ[uri]
    value = stores.artifacts.get_json(uri)
    with _READ_LOCK:
        _READ[uri] = value
        while len(_READ) > _READ_MAX:
            _READ.popitem(last=False)
    return value


def attempt_output(stores: Stores, state: dict[str, Any], phase: int, attempt: int) -> dict[str, Any]:
    """A finished attempt's output, found in the request's state (no query)."""
    record = next((p for p in state.get("phases", []) if p["phase"] == phase), {})
    run = whole_attempts(record.get("attempts", [])).get(int(attempt))
    return read_json(stores, run["output_uri"]) if run else {}


def versions(stores: Stores, state: dict[str, Any], phase: int) -> list[dict[str, Any]]:
    record = next((p for p in state.get("phases", []) if p["phase"] == phase), {})
    runs = whole_attempts(record.get("attempts", []))
    summaries = {int(p.get("attempt") or 0): p["uri"] for p in record.get("previews", [])}
    out = []
    for attempt, run in sorted(runs.items()):
        summary = read_json(stores, summaries[attempt]).get("summary", "") if attempt in summaries else ""
        out.append({"attempt": attempt, "score": run.get("score"), "summary": summary})
    return out


def output_of(stores: Stores, request_id: str, phase: int, attempt: int) -> dict[str, Any]:
    run = stores.phase_runs.find(request_id, phase, attempt)
    return read_json(stores, run["output_uri"]) if run and run.get("output_uri") else {}


# -- the previews of each phase -------------------------------------------------------------

def preview(phase: int, output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    """What the page shows of one version of `phase` (the template has one block per kind)."""
    build = {1: _concept, 2: _characters, 3: _plot, 4: _storyboard, 5: _panels, 6: _lettering, 7: _book}[phase]
    return {"kind": registry.phase(phase).key, "attempt": attempt, **build(output, attempt, links)}


def _concept(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    context = output.get("story_context") or {}
    fields = [("title", context.get("title")), ("genre", output.get("genre")), ("tone", output.get("tone")),
              ("theme", output.get("theme")), ("themes", ", ".join(map(str, output.get("themes") or []))),
              ("target_audience", output.get("target_audience")), ("world_setting", output.get("world_setting")),
              ("keywords", ", ".join(map(str, output.get("keywords") or []))),
              ("estimated_pages", output.get("estimated_pages")), ("summary", context.get("summary"))]
    return {"fields": [(name, value) for name, value in fields if value not in (None, "")]}


def _characters(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    sheets = {r.get("character_id"): r.get("uri") for r in output.get("reference_images") or [] if r.get("uri")}
    cast = []
    for character in output.get("characters", []):
        uri = sheets.get(character.get("id"))
        cast.append({**character, "aliases": [a for a in character.get("aliases") or [] if a != character.get("name")],
                     "palette": [(k, v) for k, v in (character.get("palette") or {}).items() if isinstance(v, str)],
                     "sheet": links.thumb(uri) if uri else None, "sheet_full": links.full(uri) if uri else None})
    return {"cast": cast, "relationships": output.get("relationships") or []}


def _plot(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    arc = [float(v) for v in output.get("emotional_arc") or []]
    width, height = 640, 160
    points = [(round(10 + i * (width - 20) / max(1, len(arc) - 1), 1) if len(arc) > 1 else width / 2,
               round(height - 12 - v * (height - 24), 1)) for i, v in enumerate(arc)]
    return {"structure": output.get("story_structure"), "scenes": output.get("scenes") or [],
            "arc": points, "arc_box": (width, height),
            "arc_line": " ".join(f"{x},{y}" for x, y in points)}


def _page_frames(page: dict[str, Any], size: tuple[int, int]) -> list[dict[str, Any]]:
    rects = panel_rects_px(page, size)
    sx, sy = PAGE_BOX[0] / size[0], PAGE_BOX[1] / size[1]
    frames = []
    for panel in sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0)):
        x, y, w, h = rects[str(panel["panel_id"])]
        frames.append({**panel, "x": round(x * sx, 1), "y": round(y * sy, 1), "w": round(w * sx, 1),
                       "h": round(h * sy, 1), "px": (x, y, w, h)})
    return frames


def _storyboard(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    size = tuple(output.get("page_size_px") or PAGE_SIZE_PX)
    return {"box": PAGE_BOX, "direction": output.get("reading_direction"),
            "pages": [{"page": p.get("page"), "frames": _page_frames(p, size)} for p in output.get("pages", [])]}


def _panels(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    pages: dict[int, list[dict[str, Any]]] = {}
    for image in output.get("image_descriptions", []):
        number = int(str(image["panel_id"])[1:].split("-")[0])
        uri = image.get("image_uri")
        pages.setdefault(number, []).append({**image, "thumb": links.thumb(uri) if uri else None,
                                             "full": links.full(uri) if uri else None})
    return {"pages": sorted(pages.items())}


def _lettering(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    size = tuple(output.get("page_size_px") or PAGE_SIZE_PX)
    by_panel = {d["panel_id"]: d for d in output.get("dialogue_placements", [])}
    pages = []
    for page in sorted(output.get("pages", []), key=lambda p: int(p.get("page", 0))):
        bubbles = []
        for frame in _page_frames(page, size):
            x, y, w, h = frame["px"]
            placed = by_panel.get(str(frame["panel_id"]), {})
            dialogues = placed.get("dialogues", [])
            for placement in placed.get("placements", []):
                if placement.get("linked_to") is not None:
                    continue  # the second half of a split line moves with the first
                index = int(placement.get("dialogue_index", 0))
                bx, by, bw, bh = placement["box"]
                text = dialogues[index]["text"] if index < len(dialogues) else "".join(placement.get("lines", []))
                bubbles.append({"panel_id": frame["panel_id"], "index": index, "text": text,
                                "kind": placement.get("kind"), "shape": placement.get("shape"),
                                "x": round(x + bx * w), "y": round(y + by * h), "w": round(bw * w), "h": round(bh * h)})
        pages.append({"page": page.get("page"), "image": links.lettered(attempt, int(page.get("page", 0))),
                      "bubbles": bubbles})
    lettering = output.get("lettering") or {}
    return {"pages": pages, "size": size, "relettered": lettering.get("relettered_pages"),
            "edits": output.get("bubble_edits") or []}


def _book(output: dict[str, Any], attempt: int, links: Links) -> dict[str, Any]:
    exports = output.get("exports") or {}
    pages = [{"page": p.get("page"), "thumb": links.thumb(p["uri"]), "full": links.full(p["uri"])}
             for p in output.get("pages", []) if p.get("uri")]
    checks = {k: v for k, v in (output.get("quality_checks") or {}).items() if isinstance(v, (int, float))}
    return {"pages": pages, "pdf": links.full(exports["pdf"], download=True) if exports.get("pdf") else None,
            "cbz": links.full(exports["cbz"], download=True) if exports.get("cbz") else None,
            "checks": sorted(checks.items()), "finish": output.get("finish_options") or {}}


# -- comparing two versions -----------------------------------------------------------------

def _flatten(value: Any, path: str = "", depth: int = 0) -> dict[str, str]:
    if depth < 4 and isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            if key != "processing_metadata":
                out.update(_flatten(item, f"{path}.{key}" if path else str(key), depth + 1))
        return out
    if depth < 4 and isinstance(value, list) and value and len(value) <= 60:
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{path}[{i}]", depth + 1))
        return out
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {path: text if len(text) <= 200 else text[:199] + "…"}


def comparison(phase: int, first: dict[str, Any], second: dict[str, Any], attempts: tuple[int, int],
               links: Links) -> dict[str, Any]:
    """Fields that differ (phases 1-4), or the two versions' images side by side (5-7)."""
    if phase <= 4:
        a, b = _flatten(first), _flatten(second)
        rows = [(key, a.get(key, "—"), b.get(key, "—")) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
        return {"kind": "fields", "attempts": attempts, "rows": rows[:80], "more": max(0, len(rows) - 80)}
    left, right = preview(phase, first, attempts[0], links), preview(phase, second, attempts[1], links)
    pairs = []
    if phase == 5:
        images = {i["panel_id"]: i for _, group in right["pages"] for i in group}
        for _, group in left["pages"]:
            for image in group:
                other = images.get(image["panel_id"], {})
                pairs.append({"label": image["panel_id"], "a": image.get("thumb"), "b": other.get("thumb"),
                              "changed": image.get("image_uri") != other.get("image_uri")})
    elif phase == 6:
        from .assets import lettered_key

        for page in left["pages"]:
            other = next((p for p in right["pages"] if p["page"] == page["page"]), None)
            changed = other is None or lettered_key(first, int(page["page"]))[1] != lettered_key(second, int(page["page"]))[1]
            pairs.append({"label": page["page"], "a": page["image"], "b": other and other["image"], "changed": changed})
    else:
        for page, other in zip(left["pages"], right["pages"]):
            pairs.append({"label": page["page"], "a": page["thumb"], "b": other["thumb"],
                          "changed": page["thumb"] != other["thumb"]})
    return {"kind": "images", "attempts": attempts, "pairs": pairs}


def quick_options(phase: int, language: str) -> dict[str, Any]:
    """The gate's quick changes as buttons ([(value, its words)] for those that take one), and those
    not offered with the reason."""
    say = labeller(language)
    offered = [{"name": o.name, "label": o.label.get(language, o.label["en"]),
                "values": [(value, say(value)) for value in o.values]} for o in options.offered(phase)]
    return {"offered": offered, "not_offered": [(options.label(n, language), why)
                                                 for n, why in options.not_offered(phase, language).items()]}

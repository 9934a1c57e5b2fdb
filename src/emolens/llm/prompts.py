"""Prompts in English and Chinese, picked by the text's language.

``PROMPT_VERSION`` is part of every cache key: change it whenever a prompt changes, so that
answers to the old prompt are not reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from emolens.labels import CANONICAL

PROMPT_VERSION = "1"

_ZH_GLOSS = {
    "anger": "愤怒", "disgust": "厌恶", "fear": "恐惧", "joy": "喜悦",
    "sadness": "悲伤", "surprise": "惊讶", "neutral": "中性",
}

_EN = """You annotate the emotion that a text expresses (not what its author may feel inside).
Answer with exactly one JSON object and nothing else, of this form:
{{"emotions": [{{"label": "<label>", "intensity": <0 to 1>}}], "valence": <-1 to 1>, \
"arousal": <-1 to 1>, "evidence": ["<phrase copied from the text>"], \
"rationale": "<one sentence>"}}
Rules:
- Labels: use only these: {labels}. List every emotion present with its intensity \
(0 = absent, 1 = as strong as it gets); mixed feelings get several labels.
{neutral_rule}- valence: -1 very negative to 1 very positive; arousal: -1 very calm to 1 very \
excited.
- evidence: up to 5 short phrases copied character for character from the text, that show \
the emotions. Never paraphrase them.
- Read sarcasm, negation and context as a careful person would.
- rationale: one sentence in English saying why."""

_ZH = """你的任务是标注一段文本所表达的情绪（不是推测作者内心的真实感受）。
只回答一个 JSON 对象，不要有任何其他内容，格式如下：
{{"emotions": [{{"label": "<标签>", "intensity": <0到1>}}], "valence": <-1到1>, \
"arousal": <-1到1>, "evidence": ["<从文本中原样摘录的词句>"], "rationale": "<一句话>"}}
规则：
- 标签只能使用以下英文标签：{labels}。列出文本表达的每一种情绪及其强度\
（0 表示没有，1 表示最强）；情绪复杂时给出多个标签。
{neutral_rule}- valence：-1 非常消极到 1 非常积极；arousal：-1 非常平静到 1 非常激动。
- evidence：最多 5 个从文本中逐字摘录、能体现情绪的短语，不得改写。
- 像细心的读者一样理解反讽、否定和上下文。
- rationale：用一句中文说明理由。"""

_NEUTRAL_RULE = {
    "en": '- Give "neutral" a high intensity when the text expresses little or no emotion.\n',
    "zh": "- 文本几乎没有表达情绪时，给 \"neutral\" 较高的强度。\n",
}

_USER = {"en": 'Text:\n"""\n{text}\n"""', "zh": '文本：\n"""\n{text}\n"""'}

_RETRY = {
    "en": "That answer cannot be used: {problem}. Reply again with only the JSON object.",
    "zh": "这个回答无法使用：{problem}。请重新回答，只给出 JSON 对象。",
}


def _label_list(labels: Sequence[str], language: str) -> str:
    if language == "zh":
        return "、".join(f"{label}（{_ZH_GLOSS[label]}）" if label in _ZH_GLOSS else label
                        for label in labels)
    return ", ".join(labels)


def system_prompt(labels: Sequence[str] = CANONICAL, language: str = "en") -> str:
    """The instructions, in the text's language ('zh' Chinese, anything else English)."""
    language = "zh" if language == "zh" else "en"
    template = _ZH if language == "zh" else _EN
    rule = _NEUTRAL_RULE[language] if "neutral" in labels else ""
    return template.format(labels=_label_list(labels, language), neutral_rule=rule)


def messages(text: str, labels: Sequence[str] = CANONICAL, language: str = "en") -> list[dict]:
    """The chat messages asking about ``text``."""
    language = "zh" if language == "zh" else "en"
    return [
        {"role": "system", "content": system_prompt(labels, language)},
        {"role": "user", "content": _USER[language].format(text=text)},
    ]


def retry_messages(answer: str, problem: str, language: str = "en") -> list[dict]:
    """Messages to append after an unusable answer: the answer, then what was wrong with it."""
    language = "zh" if language == "zh" else "en"
    return [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": _RETRY[language].format(problem=problem)},
    ]

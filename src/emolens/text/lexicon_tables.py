"""Word tables of our own for the lexicon recognizer: everyday emotion words the packaged
lexicons lack or place oddly, negators, emoji and Weibo bracket emoticons."""

from __future__ import annotations


def table(**lists: str) -> dict[str, str]:
    """Word -> emotion, from one space-separated word list per emotion."""
    return {word: emotion for emotion, words in lists.items() for word in words.split()}


NRC_TO_CANONICAL = {e: e for e in ("anger", "disgust", "fear", "joy", "sadness", "surprise")}

# Everyday emotion words that NRC lacks ("sad", "scared", "wow") or spreads over several
# emotions ("disgusting" is anger + disgust + fear there).
EN_WORDS = table(
    joy="happy glad joyful excited thrilled delighted cheerful pleased love loved loving lovely "
    "adore awesome great amazing fantastic wonderful funny hilarious yay yippee grateful "
    "thankful proud relieved enjoy enjoyed smile smiling laugh laughing laughed blessed",
    sadness="sad unhappy depressed depressing miserable heartbroken lonely cry cried crying "
    "tears disappointed disappointing hurt upset gloomy sorrow grief miss missed",
    anger="angry mad furious annoyed annoying pissed irritated outraged rage hate hated "
    "infuriating livid",
    fear="scared afraid terrified frightened nervous worried anxious scary creepy panic fear "
    "fearful horrified",
    surprise="surprised surprising shocked shocking amazed astonished stunned wow whoa omg "
    "unexpected unbelievable",
    disgust="disgusting disgusted gross yuck ew eww nasty sickening revolting repulsive vile",
)
EN_NEGATORS = frozenset(
    "not no never nothing nobody none nor neither cannot without hardly barely dont cant wont "
    "isnt arent wasnt werent didnt doesnt couldnt wouldnt shouldnt aint".split()
)

# Everyday Chinese emotion words DUTIR lacks (气死, 吓死, 卧槽) or files elsewhere (生气 and
# 担心 under 恶, 开心 under both 乐 and 恶, 震惊 under 惧).
ZH_WORDS = table(
    joy="开心 高兴 快乐 幸福 感动 喜欢 爱 棒 赞 太好了 耶 笑死 好玩 有趣 满意 激动 兴奋 爽 美滋滋",
    anger="生气 气死 火大 恼火 愤怒 可恶 混蛋 滚 妈的 他妈的 烦 烦死 不爽 气愤 受不了 讨厌",
    sadness="难过 伤心 郁闷 难受 委屈 哭 失望 遗憾 崩溃 绝望 无奈 心累 泪目 不开心 不高兴 "
    "悲伤 痛苦 心疼 想哭",
    fear="害怕 吓死 可怕 恐怖 担心 焦虑 紧张 怕 恐惧 吓人 慌",
    surprise="震惊 吃惊 惊讶 卧槽 天哪 天啊 居然 竟然 没想到 我的天 惊呆 不敢相信",
    disgust="恶心 鄙视 呕 垃圾 无语 嫌弃 反感 反胃 想吐 恶臭 肮脏 龌龊 猥琐 辣眼睛",
)
ZH_NEGATORS = frozenset(
    "不 没 没有 别 无 非 未 莫 勿 甭 不是 不要 不会 不能 不太 不怎么 从不 从未 绝不 并不 "
    "并没有 毫不".split()
)
# Words that end a negation scope like a comma does: "not great, but happy".
SCOPE_BREAKERS = frozenset("but however although though yet 但 但是 可是 不过 然而".split())

EMOJI = table(
    joy="😀 😃 😄 😁 😆 😂 🤣 😊 ☺ 🙂 😇 😍 🥰 😘 😗 😙 😚 😋 😛 😜 🤪 😝 🤗 🥳 😎 🤩 😺 😸 😹 "
    "😻 😌 ❤ ♥ 💕 💖 💗 💓 💞 💘 💝 🧡 💛 💚 💙 💜 👍 👏 🙌 🎉 🎊 ✨ 🌹 💐",
    sadness="😢 😭 😞 😔 😟 🙁 ☹ 😣 😖 😫 😩 🥺 😿 💔 😪 😥 😓",
    anger="😠 😡 🤬 👿 💢 😤 🖕",
    fear="😨 😰 😱 😧 🙀",
    surprise="😮 😯 😲 😳 🤯 😵 😦",
    disgust="🤢 🤮 😒 🙄 👎 💩",
    neutral="😐 😑 😶",
)

# Weibo's bracket emoticons, lower case (texts are lower-cased before lookup).
WEIBO = table(
    joy="[哈哈] [嘻嘻] [偷笑] [笑cry] [爱你] [心] [太开心] [鼓掌] [good] [赞] [耶] [亲亲] [花心] "
    "[可爱] [色] [馋嘴] [酷] [威武] [憧憬] [doge] [二哈] [给力] [笑哈哈]",
    sadness="[泪] [衰] [悲伤] [伤心] [失望] [可怜] [委屈] [泪目] [允悲] [生病] [苦涩]",
    anger="[怒] [抓狂] [怒骂] [哼] [左哼哼] [右哼哼]",
    disgust="[吐] [鄙视] [白眼] [挖鼻] [弱] [黑线]",
    fear="[害怕] [惊恐]",
    surprise="[吃惊] [惊讶] [晕] [疑问] [费解] [傻眼]",
    neutral="[思考] [哈欠] [睡]",
)

# DUTIR's 7 categories. 好 (praise) and 恶 (derogation) are broad evaluative lists of ~10k
# words each, so a hit there is weaker evidence of an emotion than one in the narrow lists.
DUTIR_CATEGORIES: dict[str, tuple[str, float]] = {
    "乐": ("joy", 1.0),
    "好": ("joy", 0.5),
    "怒": ("anger", 1.0),
    "哀": ("sadness", 1.0),
    "惧": ("fear", 1.0),
    "恶": ("disgust", 0.5),
    "惊": ("surprise", 1.0),
}

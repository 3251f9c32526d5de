# Dict-heavy code: word frequencies, bigrams and an inverted index over a
# generated text, with plain dicts, setdefault, defaultdict and Counter.
from collections import Counter, defaultdict

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "an", "el", "or", "ix"]


def words(n):
    seed = 2024
    vocab = []
    for i in range(3000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        vocab.append("".join(SYLLABLES[(seed >> k) % 12] for k in range(4, 4 * (seed % 3 + 3), 4)))
    out = []
    for i in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        # Squaring skews the choice towards the front of the vocabulary, as
        # in natural text.
        r = (seed % 3000) / 3000
        out.append(vocab[int(r * r * 3000)])
    return out


def run():
    text = words(150000)
    freq = {}
    for w in text:
        freq[w] = freq.get(w, 0) + 1
    bigrams = defaultdict(int)
    for a, b in zip(text, text[1:]):
        bigrams[a, b] += 1
    index = {}
    for pos, w in enumerate(text):
        index.setdefault(w, []).append(pos)
    by_len = Counter(len(w) for w in text)
    top = Counter(freq).most_common(5)
    top_bigram = max(bigrams.items(), key=lambda kv: (kv[1], kv[0]))
    spread = sum(v[-1] - v[0] for v in index.values())
    return [len(freq), top, [list(top_bigram[0]), top_bigram[1]], sorted(by_len.items()), spread]

# String building: joins, f-strings, %-formatting, concatenation and the
# common str methods over a generated document.


def run():
    seed = 7
    parts = []
    for i in range(120000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        word = "abcdefghijklmnopqrstuvwxyz"[seed % 26] * (seed % 5 + 1)
        parts.append(f"{word}{i}" if i % 3 else "%s-%d" % (word.upper(), seed % 100))
    doc = " ".join(parts)
    lines = []
    line = ""
    for w in doc.split(" "):
        if len(line) + len(w) > 72:
            lines.append(line.rstrip())
            line = ""
        line += w + " "
    lines.append(line.rstrip())
    text = "\n".join(lines)
    upper = text.upper()
    replaced = text.replace("aa", "<A>").replace("-", "_")
    centered = [l.center(80, ".") for l in lines]
    titled = [l.title().swapcase() for l in lines[::3]]
    found = sum(1 for l in lines if l.startswith(("a", "b")) or l.endswith("9"))
    counts = [text.count(c) for c in "aeiou0123"]
    stripped = sum(len(l.strip("abc0123456789 ")) for l in lines)
    folded = 0
    for c in replaced[::97]:
        folded = (folded * 31 + ord(c)) % 1000000007
    return [len(text), len(lines), upper.count("Q"), len(replaced), len("".join(centered)), len(titled), found, counts, stripped, folded]

# json round trip: dumps and loads of a built structure of records with
# nested lists, dicts, unicode strings, floats, booleans and nulls.
import json


def build(n):
    seed = 12345
    records = []
    for i in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        records.append({
            "id": i,
            "name": f"user-{seed % 10007}",
            "email": f"user{seed % 997}@example.org",
            "active": seed % 3 == 0,
            "score": (seed % 100000) / 8.0,
            "tags": ["t%d" % (seed >> k & 15) for k in range(0, 20, 4)],
            "address": {"city": "Zürich" if seed & 1 else "Málaga", "zip": str(seed % 90000 + 10000), "geo": [seed % 180 - 90.5, seed % 360 - 180.25]},
            "manager": None if seed & 4 else i // 2,
        })
    return {"version": 3, "records": records}


def run():
    doc = build(2000)
    total = 0
    for indent in (None, None, 2, None, None, None):
        text = json.dumps(doc, indent=indent, ensure_ascii=indent is None, sort_keys=indent is not None)
        back = json.loads(text)
        total += len(text)
        assert back == doc
    score = sum(r["score"] for r in back["records"])
    return [total, f"{score:.3f}", sum(len(r["tags"]) for r in back["records"])]

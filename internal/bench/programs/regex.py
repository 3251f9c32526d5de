# Regular expressions: searching, matching, splitting and substituting over
# generated web-server log lines.
import re

LINE = re.compile(r'^(\d{1,3}(?:\.\d{1,3}){3}) - (\w+|-) \[(\d{2})/(\w{3})/(\d{4}):(\d{2}:\d{2}:\d{2})\] "(GET|POST|PUT|DELETE) (/[^ ?"]*)(?:\?([^ "]*))? HTTP/1\.[01]" (\d{3}) (\d+)$')
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
WORD = re.compile(r"\b[a-z]{4,}\b", re.IGNORECASE)
QUERY = re.compile(r"([^&=]+)=([^&]*)")


def lines(n):
    seed = 42
    methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    paths = ["/", "/index.html", "/api/users", "/api/orders/17", "/static/app.js", "/search"]
    users = ["-", "alice", "bob", "carol"]
    out = []
    for i in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        ip = f"{seed % 223 + 1}.{seed >> 8 & 255}.{seed >> 16 & 255}.{i & 255}"
        path = paths[seed % len(paths)]
        query = f"?q=term{seed % 97}&page={seed % 7}&mail=someone{seed % 13}@mail.example.com" if seed & 8 else ""
        out.append(f'{ip} - {users[seed % 4]} [{seed % 28 + 1:02d}/{months[seed % 6]}/2024:{seed % 24:02d}:{seed % 60:02d}:{seed >> 3 & 31:02d}] '
                   f'"{methods[seed % 6]} {path}{query} HTTP/1.1" {200 + seed % 5 * 100} {seed % 50000}')
    return out


def run():
    data = lines(12000)
    status = {}
    nbytes = 0
    params = 0
    for line in data:
        m = LINE.match(line)
        if not m:
            continue
        status[m.group(10)] = status.get(m.group(10), 0) + 1
        nbytes += int(m.group(11))
        if m.group(9):
            params += len(QUERY.findall(m.group(9)))
    text = "\n".join(data)
    emails = len(EMAIL.findall(text))
    words = len(WORD.findall(text))
    masked = re.sub(r"\d+\.\d+\.\d+\.(\d+)", r"x.x.x.\1", text)
    parts = len(re.split(r"[\[\]\"]", masked))
    return [sorted(status.items()), nbytes, params, emails, words, len(masked), parts]

# jinja2: compiling a template (jinja2 generates Python source and calls
# compile()) and rendering it over a table, with a macro, loops, filters and
# autoescaping (markupsafe's pure-Python escaping on both sides).
import jinja2

_SRC = """{% macro cell(v) -%}<td class="{{ 'neg' if v < 0 else 'pos' }}">{{ v | round(2) }}</td>{%- endmacro %}
<h1>{{ title | title }}</h1>
<table>
{% for row in rows %}<tr id="r{{ loop.index }}"><th>{{ row.name | e }}</th>{% for v in row.vals %}{{ cell(v) }}{% endfor %}<td>{{ row.vals | sum | round(1) }}</td></tr>
{% endfor %}</table>
<p>{{ rows | map(attribute='name') | select('string') | join(', ') | truncate(60) }}</p>
"""

_ROWS = [{'name': 'row <%d> & co' % i, 'vals': [((i * 7 + j * 13) % 29 - 14) / 3 for j in range(8)]}
         for i in range(200)]


def run():
    env = jinja2.Environment(autoescape=True)
    t = env.from_string(_SRC)
    n = 0
    for i in range(10):
        n += len(t.render(title='report %d' % i, rows=_ROWS))
    return n

#!/usr/bin/env python3
"""Runs the KQL reference's self-contained documented examples through cmklogs' engine.

Reads every page under data-explorer/kusto/query/ of a clone of MicrosoftDocs/dataexplorer-docs,
extracts each ```kusto example, keeps the self-contained ones (print, datatable, range, let,
materialize, inline data: no tables of the help cluster, no external data), pairs each with the
documented output table that follows it, runs them through kql_doc_run and compares leniently.
What is measured and how exclusions are decided: docs/kql-coverage.md.

    python3 tests/kql/doc_examples/doc_examples.py --runner build/tests/kql/kql_doc_run \
        [--docs /work/.mirror/MicrosoftDocs+dataexplorer-docs/repo] [--out /tmp/kql-doc] \
        [--only PAGE-SUBSTRING] [-v]

Writes OUT/results.json (every example with its classification and outcome), OUT/summary.txt
(the figures) and OUT/failures/<family>.txt (each failing example: id, query, expected vs
actual). Python 3 standard library only.
"""
import argparse
import collections
import datetime as dt
import json
import math
import os
import re
import select
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY_DIR = "data-explorer/kusto/query/"

# ---------------------------------------------------------------------------------------------
# Pages and families.

CATEGORY_FAMILY = {
    "binary functions": "math",
    "conversion functions": "conversion",
    "datetime/timespan functions": "datetime",
    "dynamic/array functions": "dynamic",
    "window scalar functions": "window",
    "flow control functions": "operators",
    "mathematical functions": "math",
    "metadata functions": "misc",
    "rounding functions": "math",
    "conditional functions": "conditional",
    "series element-wise functions": "series",
    "series processing functions": "series",
    "string functions": "string",
    "ipv4/ipv6 functions": "ip",
    "ipv4 text match functions": "ip",
    "type functions": "conversion",
    "scalar aggregation functions": "aggregates",
    "geospatial functions": "geo",
    "hash functions": "hash",
    "units conversion functions": "math",
}

TOC_FAMILY = {
    "Tabular operators": "operators",
    "Query statements": "operators",
    "Special functions": "operators",
    "Aggregation functions": "aggregates",
    "Graph": "graph",
    "Geospatial": "geo",
    "Time series analysis": "series",
    "Plugins": "plugins",
    "Window functions": "window",
    "Data types": "datatypes",
}

SCALAR_OPERATOR_FAMILY = {
    "String operators": "string",
    "in operators": "string",
    "between operators": "comparison",
    "Bitwise binary operators": "math",
    "Datetime/timespan arithmetic": "datetime",
    "Logical or binary operators": "comparison",
    "Numerical operators": "math",
}


def git_show(docs, path):
    return subprocess.run(["git", "-C", docs, "show", "HEAD:" + path], capture_output=True,
                          check=True).stdout.decode("utf-8", "replace")


def list_pages(docs):
    out = subprocess.run(["git", "-C", docs, "ls-tree", "-r", "--name-only", "HEAD", QUERY_DIR],
                         capture_output=True, check=True).stdout.decode()
    return sorted(p for p in out.splitlines() if p.endswith(".md"))


def page_families(docs):
    """page path (relative to query/) -> family, from the toc and the category pages."""
    fam = {}
    for page, heading_re in (("scalar-functions.md", r"^## (.+)$"), ("aggregation-functions.md", None)):
        text = git_show(docs, QUERY_DIR + page)
        current = "aggregates" if heading_re is None else None
        for line in text.splitlines():
            if heading_re:
                m = re.match(heading_re, line)
                if m:
                    current = CATEGORY_FAMILY.get(m.group(1).strip().lower())
                    continue
            for link in re.findall(r"\]\(([^)#]+\.md)\)", line):
                if current and link not in fam:
                    fam[os.path.normpath(link)] = current
    # The toc's top-level sections (two-space indented items).
    toc = git_show(docs, QUERY_DIR + "toc.yml")
    top = sub = None
    for line in toc.splitlines():
        m = re.match(r"^(\s*)- name:\s*(.+?)\s*$", line)
        if m:
            indent = len(m.group(1))
            name = m.group(2).strip('"')
            if indent <= 2:
                top, sub = name, None
            elif indent <= 6:
                sub = name
            continue
        m = re.match(r"^\s*href:\s*(\S+\.md)\s*$", line)
        if not m or top is None:
            continue
        href = os.path.normpath(m.group(1))
        family = TOC_FAMILY.get(top)
        if top == "Scalar operators":
            family = SCALAR_OPERATOR_FAMILY.get(sub, "comparison")
        if family and href not in fam:
            fam[href] = family
        elif family and top in ("Graph", "Geospatial", "Time series analysis", "Plugins", "Window functions"):
            fam[href] = family  # these sections win over the scalar categories
    return fam


def family_of(rel, fams):
    if rel in fams:
        return fams[rel]
    base = os.path.basename(rel)
    if base.startswith("graph") or "-graph" in base:
        return "graph"
    if base.startswith("geo-"):
        return "geo"
    if base.startswith("series-"):
        return "series"
    if base.endswith("-plugin.md"):
        return "plugins"
    if base.endswith("aggregation-function.md") or base.endswith("aggfunction.md"):
        return "aggregates"
    if base.endswith("-operator.md") or base.endswith("-statement.md"):
        return "operators"
    if re.match(r"^(bag|array|set|pack)-", base):
        return "dynamic"
    if base.startswith("datetime-"):
        return "datetime"
    if rel.startswith("functions/") or rel.startswith("schema-entities/"):
        return "operators"
    if rel.startswith("tutorials/"):
        return "tutorials"
    if base.endswith("-function.md"):
        if re.match(r"^(is|str|string|to|trim|url|parse)", base):
            return "string"
        return "misc"
    return "other"


# ---------------------------------------------------------------------------------------------
# Examples and their documented outputs.

FENCE_RE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


def strip_monikers(text):
    """Drops moniker markers, keeps every moniker's content (duplicates are removed later)."""
    lines = []
    for line in text.splitlines():
        if re.match(r"^\s*:::\s*moniker", line):
            continue
        lines.append(line)
    return lines


def parse_table(lines):
    """Markdown table lines -> (header, rows) or None."""
    def cells(line):
        line = line.strip()
        if line.startswith("|"):
            line = line[1:]
        if line.endswith("|") and not line.endswith("\\|"):
            line = line[:-1]
        parts, cur, i = [], "", 0
        while i < len(line):
            c = line[i]
            if c == "\\" and i + 1 < len(line) and line[i + 1] == "|":
                cur += "|"
                i += 2
                continue
            if c == "|":
                parts.append(cur)
                cur = ""
            else:
                cur += c
            i += 1
        parts.append(cur)
        return [clean_cell(p) for p in parts]

    if len(lines) < 2 or not re.match(r"^\s*\|?\s*:?-{2,}", lines[1]):
        return None
    header = cells(lines[0])
    rows = [cells(l) for l in lines[2:]]
    return header, rows


def clean_cell(s):
    s = s.strip()
    s = re.sub(r"<br\s*/?>", "\n", s)
    s = s.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    s = s.replace("&#124;", "|").replace("&amp;", "&")
    for mark in ("**", "__"):
        if len(s) >= 4 and s.startswith(mark) and s.endswith(mark):
            s = s[2:-2].strip()
    if re.match(r"^<(https?|ftp|mailto):[^<>\s]*>$", s):
        s = s[1:-1]
    if len(s) >= 2 and s.startswith("`") and s.endswith("`"):
        s = s.strip("`").strip()
    # Markdown escapes outside code: series\_periods (never a JSON escape, so safe in values).
    s = s.replace("\\_", "_")
    return s.strip()


OUTPUT_MARK_RE = re.compile(r"^\s*(#+\s*|\*\*)?\s*(example\s+)?(output|outputs|results?|returns)\b", re.I)


def extract_examples(text):
    """-> list of dicts {query, table: (header, rows) | None, output_kind}."""
    lines = strip_monikers(text)
    examples = []
    i = 0
    n = len(lines)
    while i < n:
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < n and not lines[j].strip().startswith(fence[:3]):
            j += 1
        body = "\n".join(lines[i + 1:j])
        i = j + 1
        if lang not in ("kusto", "kql"):
            continue
        # The documented output: the first table after the block, before the next code block or
        # a heading that is not an "Output" heading.
        k = i
        table = None
        output_kind = None
        saw_output_mark = False
        while k < n:
            line = lines[k]
            if FENCE_RE.match(line):
                fm = FENCE_RE.match(line)
                if fm.group(2).lower() in ("kusto", "kql"):
                    break
                if saw_output_mark or k - i <= 3:
                    output_kind = "text"
                break
            if re.match(r"^\s*#", line) and not OUTPUT_MARK_RE.match(line):
                break
            if OUTPUT_MARK_RE.match(line):
                saw_output_mark = True
            if ":::image" in line and output_kind is None:
                output_kind = "image"
            if line.strip().startswith("|"):
                tl = []
                # (a row may lack its leading pipe, as on unicode-codepoints-to-string-function)
                while k < n and (lines[k].strip().startswith("|") or
                                 (len(tl) >= 2 and lines[k].strip() and "|" in lines[k])):
                    tl.append(lines[k])
                    k += 1
                table = parse_table(tl)
                if table:
                    output_kind = "table"
                break
            k += 1
        examples.append({"query": body.strip("\n"), "table": table, "output_kind": output_kind})
    return examples


# ---------------------------------------------------------------------------------------------
# Classification of a query.

TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<mstring>```.*?```|~~~.*?~~~)
  | (?P<string>[hH]?@?'(?:[^'\\\n]|\\.)*'|[hH]?@?"(?:[^"\\\n]|\\.)*")
  | (?P<bracket>\[\s*['"][^'"]*['"]\s*\])
  | (?P<num>\d[\w.]*)
  | (?P<ident>[A-Za-z_$][\w]*(?:-[A-Za-z_][\w]*)*)
  | (?P<punct>==|!=|=~|!~|<=|>=|=>|\.\.|[^\s])
""", re.X | re.S)


def tokenize(q):
    toks = []
    for m in TOKEN_RE.finditer(q):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        toks.append((kind, m.group(kind)))
    return toks


KEYWORDS = set("""
print datatable range let materialize union evaluate find search externaldata set declare alias
pattern restrict view toscalar true false dynamic datetime timespan time bool boolean int long real
double decimal string guid and or not between in has contains where project extend summarize take
limit sort order top count distinct join lookup mv-expand mv-apply parse parse-where parse-kv
make-series render as invoke fork facet getschema partition reduce sample sample-distinct scan
serialize top-nested top-hitters consume project-away project-keep project-rename project-reorder
project-by-names by on kind with withsource from to step asc desc nulls first last typeof null
macro-expand filter table print_0 query_parameters graph-match make-graph cluster database
""".split())

NONDETERMINISTIC_RE = re.compile(
    r"\b(now|ago|rand|new_guid|current_principal|current_principal_details|current_principal_is_member_of|"
    r"current_database|current_cluster_endpoint|extent_id|extent_tags|ingestion_time|cursor_after|"
    r"cursor_before_or_at|cursor_current|estimate_data_size)\s*\(|\|\s*(sample|sample-distinct)\b|"
    r"\bgetschema\b|\bnew_guid\b", re.I)

GRAPH_RE = re.compile(r"\b(make-graph|graph-match|graph-shortest-paths|graph-to-table|graph-mark-components|"
                      r"graph-merge)\b|\bgraph\s*\(|\w+_graph\s*\(", re.I)
EXTERNAL_RE = re.compile(
    r"\b(cluster|database|external_table|materialized_view|stored_query_result|entity_group|"
    r"inline_external_table|external_data)\s*\(|\bh@?[\"']https?://|"
    r"\bexternaldata\b|\.create\b|\.show\b|\.set\b|\.alter\b|\.drop\b|"
    r"\bevaluate\s+(http_request|http_request_post|sql_request|python|r|cosmosdb_sql_request|ai_\w+|"
    r"azure_digital_twins_query_request|mysql_request|postgresql_request|infer_storage_schema\w*)\b", re.I)


def table_references(q):
    """Names used as tabular sources that the query doesn't define (its let names, as names,
    function parameters)."""
    toks = tokenize(q)
    defined = set()
    for idx, (k, v) in enumerate(toks):
        if k == "ident" and v == "let" and idx + 1 < len(toks) and toks[idx + 1][0] in ("ident", "bracket"):
            defined.add(toks[idx + 1][1])
        if k == "ident" and v == "as" and idx > 0 and toks[idx - 1] == ("punct", "|"):
            j = idx + 1
            while j + 2 < len(toks) and toks[j + 1] == ("punct", "="):
                j += 3
            if j < len(toks):
                defined.add(toks[j][1])
        # Parameters: `name:type` inside a let's parameter list, and `T:(*)`.
        if k == "ident" and idx + 1 < len(toks) and toks[idx + 1] == ("punct", ":"):
            defined.add(v)
        if k == "ident" and v == "query_parameters":
            defined.add(v)
    refs = set()
    # Head positions: start, after ';', after `let x =`, after '(' that follows a tabular context,
    # after union/join/lookup (and their options), after `toscalar(` / `materialize(`.
    depth_is_tabular = []

    def head_at(j):
        # skip `kind=x`-style options
        while j + 2 < len(toks) and toks[j][0] == "ident" and toks[j + 1] == ("punct", "=") and \
                toks[j][1].lower() in ("kind", "withsource", "isfuzzy", "hint.strategy", "hint", "hint.remote",
                                        "hint.shufflekey", "hint.num_partitions", "source"):
            j += 3
        if j < len(toks) and toks[j][0] == "ident":
            name = toks[j][1]
            nxt = toks[j + 1] if j + 1 < len(toks) else ("", "")
            if nxt == ("punct", "(") or nxt == ("punct", "."):
                return
            if name.lower() in KEYWORDS or name in defined:
                return
            if nxt[0] == "punct" and nxt[1] in ("=", "==", "!=", "<", ">", "+", "-", "*", "/", ",", ")", ":", "["):
                # scalar context (e.g. `let x = y + 1`), except a comma list in union
                if not (nxt[1] == "," and j > 0 and toks[j - 1][1].lower() in ("union", ",")):
                    if not (nxt[1] == ")" and j > 0 and toks[j - 1] == ("punct", "(")):
                        return
            refs.add(name)

    stmt_start = True
    for idx, (k, v) in enumerate(toks):
        if stmt_start:
            stmt_start = False
            if k == "ident" and v == "let":
                # let name = <head>
                if idx + 3 < len(toks) and toks[idx + 2] == ("punct", "="):
                    head_at(idx + 3)
            elif k == "ident" and v in ("set", "declare", "alias", "pattern", "restrict"):
                pass
            else:
                head_at(idx)
        if (k, v) == ("punct", ";"):
            stmt_start = True
            continue
        if k == "ident" and v.lower() in ("union", "join", "lookup"):
            head_at(idx + 1)
            # union list: T1, T2
            if v.lower() == "union":
                j = idx + 1
                while j < len(toks) and toks[j][0] == "ident" and j + 1 < len(toks) and toks[j + 1] == ("punct", "="):
                    j += 3
                while j + 1 < len(toks) and toks[j + 1] == ("punct", ","):
                    head_at(j + 2)
                    j += 2
        if k == "ident" and v.lower() in ("toscalar", "materialize") and idx + 1 < len(toks) and \
                toks[idx + 1] == ("punct", "("):
            head_at(idx + 2)
        if (k, v) == ("punct", "(") and idx > 0 and (toks[idx - 1][1].lower() in ("union", "join", "lookup", ",", "(", "=") or
                                                     toks[idx - 1][1] in ("{",)):
            # `(T | ...)` as a union/join/lookup operand, or a parenthesized tabular expression
            if idx + 2 < len(toks) and toks[idx + 2] == ("punct", "|"):
                head_at(idx + 1)
        if (k, v) == ("punct", "{"):
            # function body
            stmt_start = True
        if k == "ident" and v == "table" and idx + 2 < len(toks) and toks[idx + 1] == ("punct", "(") and \
                toks[idx + 2][0] == "string":
            name = toks[idx + 2][1].strip("'\"@")
            if name not in defined:
                refs.add(name)
    return sorted(refs)


def strip_comments(q):
    return "\n".join(l for l in q.splitlines() if not l.strip().startswith("//"))


def scoped_tables(q):
    """Tables named where table_references doesn't look: `find in (T1, C*)`, `search in (T)`
    (wildcards included) and names handed to table() as string literals, when no let defines
    them."""
    defined = set(re.findall(r"\blet\s+(\w+)\s*=", q))
    names = []
    for m in re.finditer(r"\b(?:find|search)\b[^|;]*?\bin\s*\(([^)]*)\)", q):
        names += [n.strip() for n in m.group(1).split(",") if n.strip()]
    if re.search(r"\btable\s*\(", q):
        names += re.findall(r"""['"]([A-Za-z_]\w*)['"]""", q)
    return [n for n in names if n not in defined and not any(
        d.startswith(n.rstrip("*")) for d in defined if n.endswith("*"))]


def classify(q, family):
    if family == "graph" or GRAPH_RE.search(q):
        return "graph"
    if EXTERNAL_RE.search(q) or re.match(r"^\s*(--|select\b|explain\b)", q, re.I):
        return "external"  # (or T-SQL, which the SQL cheat sheet shows)
    if re.match(r"^\s*\w+\s*:\s*\w+\s*\[", q):
        return "syntax"  # the syntax notation `ArgName:ArgType [= Default]`, not a query
    if re.match(r"^\s*(search|find)\b(?!\s+in\b)", strip_comments(q)) or re.search(r"\bunion\s+\*", q):
        return "uses-tables:*"
    refs = [] if re.search(r"isfuzzy\s*=\s*true", q) else table_references(q)
    refs += scoped_tables(q)
    if refs:
        return "uses-tables:" + ",".join(refs)
    if NONDETERMINISTIC_RE.search(q):
        return "nondeterministic"
    return "self-contained"


TABULAR_STARTERS = set("""datatable range print union materialize toscalar view table evaluate externaldata
find search cluster database external_table materialized_view let set declare alias pattern restrict""".split())


def bare_expression(q):
    """The docs' shorthand `f(x)` / `f(x) == y`: one scalar expression, not a runnable query."""
    toks = tokenize(q)
    if not toks or ("punct", ";") in toks or ("punct", "|") in toks:
        return False
    k, v = toks[0]
    if k in ("string", "num"):
        return True
    return k == "ident" and v not in TABULAR_STARTERS and len(toks) > 1 and toks[1] == ("punct", "(")


def snippet_checks(q):
    """The docs' list of expressions with their values: one expression a line, each either an
    assertion (`tobool("false") == false`) or followed by `// value` (`round(2.15, 1) // 2.2`).
    -> (print query, expected row) or None."""
    exprs, expected = [], []
    for line in q.splitlines():
        if not line.strip() or line.strip().startswith("//"):
            continue
        code, _, comment = line.partition("//")
        code = code.strip()
        toks = tokenize(code)
        if not bare_expression(code) or toks[0][0] in ("string", "num"):
            return None
        value = comment.strip().split()[0] if comment.strip() else None
        if ("punct", "==") in toks and value is None:
            exprs.append(code)
            expected.append("true")
        elif value is not None and ("punct", "==") not in toks:
            exprs.append(code)
            expected.append(value)
        else:
            return None
    if len(exprs) < 2:
        return None
    return "print " + ", ".join("c%d = %s" % (k, e) for k, e in enumerate(exprs)), expected


def defines_order(q):
    # top-nested is not here: its page defines no output order, and its fourth example's output
    # is not in rank order.
    return re.search(r"\|\s*(sort|order)\s+by\b|\|\s*top\b(?!-)|\|\s*serialize\b|"
                     r"\b(row_number|prev|next|row_cumsum)\s*\(", q, re.I) is not None


# ---------------------------------------------------------------------------------------------
# The runner process.

class Runner:
    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.path, "--deadline-ms", "5000", "--memory-mb", "512"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.buf = b""
        self.errbuf = b""

    def stop(self):
        if self.proc:
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
            self.proc = None

    def run(self, ident, query):
        if self.proc is None:
            self.start()
        line = json.dumps({"id": ident, "query": query}) + "\n"
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return {"status": "crash", "message": "runner gone before the query"}
        deadline = time.monotonic() + self.timeout
        out_fd = self.proc.stdout.fileno()
        err_fd = self.proc.stderr.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                return {"status": "hang", "message": "no answer within %.0f s (killed)" % self.timeout}
            r, _, _ = select.select([out_fd, err_fd], [], [], left)
            if err_fd in r:
                chunk = os.read(err_fd, 65536)
                self.errbuf = (self.errbuf + chunk)[-4000:]
            if out_fd in r:
                chunk = os.read(out_fd, 1 << 20)
                if not chunk:
                    rc = self.proc.wait()
                    # drain stderr
                    try:
                        self.errbuf += self.proc.stderr.read() or b""
                    except Exception:
                        pass
                    err = self.errbuf.decode("utf-8", "replace").strip().splitlines()
                    self.proc = None
                    tail = [l for l in err if not l.startswith("running ")][-5:]
                    return {"status": "crash", "message": "runner died (exit %s): %s" % (rc, " | ".join(tail))}
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        self.errbuf = b""
        return json.loads(line)


# ---------------------------------------------------------------------------------------------
# Comparison.

def parse_number(s):
    t = s.strip().replace(",", "") if re.match(r"^-?[\d,]+(\.\d+)?([eE][-+]?\d+)?$", s.strip()) else s.strip()
    low = t.lower()
    if low in ("nan",):
        return float("nan")
    if low in ("infinity", "inf", "+infinity", "∞"):
        return float("inf")
    if low in ("-infinity", "-inf", "-∞"):
        return float("-inf")
    try:
        return float(t)
    except ValueError:
        return None


def numbers_equal(exp, act):
    e, a = parse_number(exp), parse_number(act)
    if e is None or a is None:
        return False
    if math.isnan(e) or math.isnan(a):
        return math.isnan(e) and math.isnan(a)
    if math.isinf(e) or math.isinf(a):
        return e == a
    if e == a:
        return True
    if abs(e - a) <= 1e-6 * max(abs(e), abs(a)):
        return True
    # the docs round: accept the actual value rounded to the shown number of decimals
    m = re.match(r"^-?\d*\.(\d+)$", exp.strip())
    if m:
        d = len(m.group(1))
        return abs(e - a) <= 0.5 * 10 ** (-d) + 1e-12 * max(1.0, abs(a))
    return False


EPOCH = dt.datetime(1, 1, 1)


def datetime_ticks(s):
    s = s.strip().strip("'\"")
    m = re.match(r"^(?:datetime\()?(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|UTC|GMT|\+00:00)?\)?$", s)
    if not m:
        m2 = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(AM|PM)?$", s, re.I)
        if not m2:
            return None
        mo, d, y, h, mi, sec, frac, ampm = m2.groups()
        h = int(h)
        if ampm:
            h = h % 12 + (12 if ampm.upper() == "PM" else 0)
        y, mo, d, mi = int(y), int(mo), int(d), int(mi)
    else:
        y, mo, d, h, mi, sec, frac, _ = m.groups()
        y, mo, d, h, mi = int(y), int(mo), int(d), int(h or 0), int(mi or 0)
    try:
        base = dt.datetime(y, mo, d, h, mi, int(sec or 0))
    except ValueError:
        return None
    delta = base - EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * 10 ** 7
    if frac:
        ticks += int((frac + "0000000")[:7])
    return ticks


def timespan_ticks(s):
    s = s.strip()
    m = re.match(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$", s)
    if not m:
        m = re.match(r"^(-)?(\d+(?:\.\d+)?)(d|h|m|s|ms|tick|ticks|microsecond|microseconds)$", s)
        if not m:
            return None
        mult = {"d": 864e9, "h": 36e9, "m": 6e8, "s": 1e7, "ms": 1e4, "tick": 1, "ticks": 1,
                "microsecond": 10, "microseconds": 10}[m.group(3)]
        v = int(round(float(m.group(2)) * mult))
        return -v if m.group(1) else v
    neg, d, h, mi, sec, frac = m.groups()
    v = ((int(d or 0) * 24 + int(h)) * 60 + int(mi)) * 60 + int(sec or 0)
    v *= 10 ** 7
    if frac:
        v += int((frac + "0000000")[:7])
    return -v if neg else v


# An array the docs elide as `[ ... ]` (the buffer and H3 GeoJSON outputs): it matches any array,
# the rest of the documented value is still compared.
ELIDED_ARRAY = "\u0000elided array"
ELIDED_RE = re.compile(r"\[\s*(?:\.\.\.\s*)+\]")


def loose_json(s):
    s = s.strip()
    try:
        return json.loads(s)
    except ValueError:
        pass
    if ELIDED_RE.search(s):
        return loose_json(ELIDED_RE.sub(lambda m: json.dumps(ELIDED_ARRAY), s))
    # single quotes, unquoted keys
    t = re.sub(r"'([^'\\]*)'", lambda m: json.dumps(m.group(1)), s)
    try:
        return json.loads(t)
    except ValueError:
        return None


def json_equal(a, b):
    if a == ELIDED_ARRAY:
        return isinstance(b, list)
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and type(a) == type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return numbers_equal(repr(a), repr(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, str) and isinstance(b, str):
        return a == b or datetimes_text_equal(a, b)
    return a == b


def datetimes_text_equal(a, b):
    ta, tb = datetime_ticks(a), datetime_ticks(b)
    return ta is not None and ta == tb


def norm_ws(s):
    return re.sub(r"\s+", " ", s).strip()


def cell_equal(exp, act, typ):
    """exp: documented cell text; act: runner's rendering (None for null); typ: KQL type."""
    e = exp.strip()
    if act is None:
        return e in ("", "null", "NULL", "(null)", "<null>") or (typ == "dynamic" and e == "")
    if e == act:
        return True
    if typ in ("long", "int", "real", "decimal"):
        if numbers_equal(e, act):
            return True
        return False
    if typ == "bool":
        return e.lower() in (act, "1" if act == "true" else "0")
    if typ == "datetime":
        t = datetime_ticks(e)
        return t is not None and t == datetime_ticks(act)
    if typ == "timespan":
        t = timespan_ticks(e)
        return t is not None and t == timespan_ticks(act)
    if typ == "guid":
        return e.lower().strip("{}") == act.lower()
    if typ == "dynamic":
        a = json.loads(act)
        x = loose_json(e)
        if x is not None and json_equal(x, a):
            return True
        if isinstance(a, str):
            return norm_ws(a) == norm_ws(e.strip('"'))
        return x is None and norm_ws(e) == norm_ws(act)
    # string
    if norm_ws(e) == norm_ws(act):
        return True
    if e.startswith('"') and e.endswith('"') and len(e) >= 2 and norm_ws(e[1:-1]) == norm_ws(act):
        return True
    # The docs render a URL value as a markdown link to itself: [url](url).
    m = re.fullmatch(r"\[([^\]]*)\]\(([^)]*)\)", e)
    if m and m.group(1) == m.group(2) and norm_ws(m.group(1)) == norm_ws(act):
        return True
    return False


def row_equal(exp_row, act_row, types):
    if len(exp_row) != len(act_row):
        return False
    return all(cell_equal(e, a, t) for e, a, t in zip(exp_row, act_row, types))


def name_equal(doc, actual, query):
    """Column names: equal ignoring case; a name the engine made up (print_N, ColumnN) matches
    any documented label, and so does the docs' generic label "result" for a query that doesn't
    name a column so."""
    if doc.lower() == actual.lower():
        return True
    if re.match(r"^(print_\d+|Column\d+)$", actual):
        return True
    return doc.lower() == "result" and not re.search(r"\bresult\b", query, re.I)


def compare(example, result):
    """-> None when equal, else a reason."""
    header, rows = example["table"]
    cols = [c["name"] for c in result.get("columns", [])]
    types = [c["type"] for c in result.get("columns", [])]
    act_rows = result.get("rows", [])
    # drop empty trailing rows and "..." truncation markers
    truncated = False
    exp_rows = []
    for r in rows:
        if all(c.strip() in ("", "...", "…") for c in r) and any(c.strip() in ("...", "…") for c in r):
            truncated = True
            continue
        exp_rows.append(r)
    if len(header) != len(cols):
        return "expected %d columns %s, got %d %s" % (len(header), header, len(cols), cols)
    for h, c in zip(header, cols):
        if not name_equal(h.strip(), c, example["query"]):
            return "column names differ: expected %s, got %s" % (header, cols)
    exp_rows = [r + [""] * (len(header) - len(r)) if len(r) < len(header) else r[:len(header)] for r in exp_rows]
    n_act = result.get("row_count", len(act_rows))
    if truncated:
        if n_act < len(exp_rows):
            return "expected at least %d rows, got %d" % (len(exp_rows), n_act)
    elif len(exp_rows) != n_act:
        return "expected %d rows, got %d" % (len(exp_rows), n_act)
    # in order
    if all(row_equal(e, a, types) for e, a in zip(exp_rows, act_rows)):
        return None
    if defines_order(example["query"]) and not truncated:
        for i, (e, a) in enumerate(zip(exp_rows, act_rows)):
            if not row_equal(e, a, types):
                return "row %d differs (the query defines the order)" % (i + 1)
    # as a multiset
    unused = list(range(len(act_rows)))
    for i, e in enumerate(exp_rows):
        hit = next((j for j in unused if row_equal(e, act_rows[j], types)), None)
        if hit is None:
            return "expected row %d not found in the result" % (i + 1)
        unused.remove(hit)
    return None


# ---------------------------------------------------------------------------------------------

def render_table(header, rows):
    out = ["    | " + " | ".join(header) + " |"]
    for r in rows[:40]:
        out.append("    | " + " | ".join("NULL" if c is None else str(c).replace("\n", "\\n") for c in r) + " |")
    if len(rows) > 40:
        out.append("    ... (%d rows)" % len(rows))
    return "\n".join(out)


def load_exceptions(path):
    exc = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            ident, _, reason = line.partition(" ")
            exc[ident] = reason.strip()
    return exc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default="/work/.mirror/MicrosoftDocs+dataexplorer-docs/repo")
    ap.add_argument("--runner", default=os.path.join(HERE, "../../../build/tests/kql/kql_doc_run"))
    ap.add_argument("--out", default="/tmp/kql-doc")
    ap.add_argument("--only", default=None, help="only pages whose path contains this")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a query counts as hung")
    ap.add_argument("--markdown", default=None,
                    help="also write the failing measured examples as a markdown list (id, family, reason) "
                         "to this file, for tests/kql/README.md")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    fams = page_families(args.docs)
    exceptions = load_exceptions(os.path.join(HERE, "exceptions.txt"))
    runner = Runner(os.path.abspath(args.runner), args.timeout)
    results = []
    for path in list_pages(args.docs):
        rel = path[len(QUERY_DIR):]
        if args.only and args.only not in rel:
            continue
        family = family_of(rel, fams)
        seen = set()
        index = 0
        for ex in extract_examples(git_show(args.docs, path)):
            key = re.sub(r"\s+", " ", ex["query"]).strip()
            if not key or key in seen:
                continue
            seen.add(key)
            index += 1
            ident = "%s#%d" % (rel[:-3], index)
            rec = {"id": ident, "page": rel, "family": family, "query": ex["query"],
                   "output_kind": ex["output_kind"], "expected": ex["table"]}
            cls = classify(ex["query"], family)
            rec["class"] = cls
            if cls in ("graph", "external", "syntax") or cls.startswith("uses-tables"):
                results.append(rec)
                continue
            query = ex["query"]
            snippet = snippet_checks(query) if ex["table"] is None else None
            if snippet:
                # Checked like a one-row output table whose cells are the documented values.
                query = snippet[0]
                ex = dict(ex, table=(["c%d" % k for k in range(len(snippet[1]))], [snippet[1]]))
                rec["snippet"] = True
                rec["expected"] = ex["table"]
            elif bare_expression(query):
                # Run the shorthand as the query it stands for.
                query = "print " + query
                rec["wrapped"] = True
            res = runner.run(ident, query)
            rec["result"] = res
            if res.get("status") != "ok":
                rec["outcome"] = "error"
            elif cls == "self-contained" and ex["table"] is not None:
                why = compare(ex, res)
                rec["outcome"] = "pass" if why is None else "fail"
                if why:
                    rec["why"] = why
            else:
                rec["outcome"] = "ran"
            if ident in exceptions:
                rec["exception"] = exceptions[ident]
            results.append(rec)
            if args.verbose:
                print(ident, cls, rec["outcome"], rec.get("why", ""), file=sys.stderr)
    runner.stop()
    report(results, args.out)
    if args.markdown:
        write_markdown(results, args.markdown)


def write_markdown(results, path):
    """One line per failing measured example: `id` (family): the error or the difference."""
    lines = []
    for r in results:
        if r["class"] != "self-contained" or r.get("expected") is None or "exception" in r:
            continue
        if r["outcome"] == "pass":
            continue
        res = r.get("result", {})
        if r["outcome"] == "error":
            why = "%s: %s" % (res.get("code") or res.get("status"), res.get("message", ""))
        else:
            why = r.get("why", "")
        why = re.sub(r"\s+", " ", why).strip()
        lines.append("- `%s` (%s): %s" % (r["id"], r["family"], why[:160] + ("..." if len(why) > 160 else "")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def report(results, out):
    os.makedirs(os.path.join(out, "failures"), exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    measured = [r for r in results if r["class"] == "self-contained" and r.get("expected") is not None
                and "exception" not in r]
    fam = collections.defaultdict(lambda: collections.Counter())
    for r in measured:
        fam[r["family"]]["total"] += 1
        fam[r["family"]]["pass" if r["outcome"] == "pass" else "fail"] += 1
    lines = []
    total = len(measured)
    passed = sum(1 for r in measured if r["outcome"] == "pass")
    lines.append("Documented examples with an output table, self-contained: %d; pass %d (%.1f%%)" %
                 (total, passed, 100.0 * passed / max(total, 1)))
    lines.append("")
    lines.append("%-12s %6s %6s %7s" % ("family", "total", "pass", "rate"))
    for k in sorted(fam, key=lambda k: -fam[k]["total"]):
        c = fam[k]
        lines.append("%-12s %6d %6d %6.1f%%" % (k, c["total"], c["pass"], 100.0 * c["pass"] / c["total"]))
    lines.append("")
    cnt = collections.Counter()
    for r in results:
        cls = r["class"].split(":")[0]
        if cls == "self-contained" and r.get("expected") is None:
            cls = "self-contained, no output table"
        if "exception" in r:
            cls = "exceptions.txt"
        cnt[cls] += 1
    lines.append("Examples by class (%d in all):" % len(results))
    for k, v in cnt.most_common():
        lines.append("  %-36s %d" % (k, v))
    ran = [r for r in results if r.get("outcome") in ("ran", "error") and
           (r.get("expected") is None or r["class"] != "self-contained")]
    lines.append("Run without a comparable output: %d, of which errored: %d" %
                 (len(ran), sum(1 for r in ran if r["outcome"] == "error")))
    crashes = [r for r in results if r.get("result", {}).get("status") in ("crash", "hang")]
    lines.append("Crashes/hangs: %d %s" % (len(crashes), " ".join(r["id"] for r in crashes)))
    summary = "\n".join(lines)
    print(summary)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(summary + "\n")

    # failures per family
    by_fam = collections.defaultdict(list)
    for r in results:
        if r.get("outcome") in ("fail", "error") and "exception" not in r:
            if r["class"] == "self-contained" and r.get("expected") is not None:
                by_fam[r["family"]].append(r)
            else:
                by_fam[r["family"] + ".no-output"].append(r)
    for name in os.listdir(os.path.join(out, "failures")):
        os.remove(os.path.join(out, "failures", name))
    for k, rs in by_fam.items():
        with open(os.path.join(out, "failures", k + ".txt"), "w") as f:
            f.write("# %d failing examples (%s); generated by tests/kql/doc_examples/doc_examples.py\n\n" % (len(rs), k))
            for r in rs:
                f.write("== %s  [%s]\n" % (r["id"], r["class"]))
                f.write("query:\n" + "\n".join("    " + l for l in r["query"].splitlines()) + "\n")
                res = r.get("result", {})
                if r["outcome"] == "error":
                    f.write("error: %s %s: %s\n" % (res.get("status"), res.get("code", ""), res.get("message", "")))
                else:
                    f.write("why: %s\n" % r.get("why"))
                if r.get("expected"):
                    f.write("expected:\n" + render_table(*r["expected"]) + "\n")
                if res.get("status") == "ok":
                    f.write("actual:\n" + render_table(["%s:%s" % (c["name"], c["type"]) for c in res["columns"]],
                                                         res["rows"]) + "\n")
                f.write("\n")


if __name__ == "__main__":
    main()

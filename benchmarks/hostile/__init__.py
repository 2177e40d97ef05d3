"""Send each hostile input of issue 25 to a real `bentoml serve` and tabulate what it costs the server.

    python -m benchmarks.hostile                                   # serves this checkout, default settings
    python -m benchmarks.hostile --only rouge --only sentence-splitter
    python -m benchmarks.hostile --repo /tmp/other-checkout --bento-home /tmp/store   # serve another tree
    python -m benchmarks.hostile --url http://127.0.0.1:3000 --serve-pid PID [--log FILE]

Without --url it imports models/ into a scratch BentoML store (or uses --bento-home, a store that
holds them) and starts `bentoml serve` of --repo (default: this checkout) on a free 127.0.0.1 port
with the service's default settings: every PLS_* variable of this shell is left out (--serve-env
adds one back). With --url it attacks that server; --serve-pid (the `bentoml serve` process) is
then needed to find the worker processes, and --log (the server's output) to check the log.

The attacks (issue 25's findings), one after the other, each bounded in time (--attack-s):

    paths              thousands of distinct 8,000-character random paths, no key (finding 1)
    rouge              /evaluate with 20,000-character texts of 10,000 one-letter tokens, and
                       /generate-with-metrics with such a reference_pls (ROUGE-L's table, finding 2)
    sentence-splitter  20,000-character runs of `!`, `.`, `?` (and `. ! ? ` with spaces) to
                       /classify, /evaluate and /generate (the boundary pattern, finding 3)
    syllable-cache     many distinct 20,000-character words of astral-plane letters (U+1D400...) to
                       /classify and /evaluate, which count syllables (the cache, finding 4)
    admission          20 clients sending 20,000 characters of `x,` with num_beams 10 and max_length
                       512 to /generate, beside /classify and /evaluate floods (finding 5)
    validation-log     invalid bodies holding a distinctive name (a bad max_length beside it, and
                       four other mistakes), and a 650 KB body of 60,000 unknown keys: the name
                       in the server log? the largest log record, the largest 4xx answer (finding 6)

Before the first attack a normal request (/generate with its defaults on the shortest abstract
of data/cochrane/val.source) is sent five times to warm the server up, then timed five times: the
median is its usual time (it differs from one server to the next: the same 321-token answer
took 0.3 s from some and 1.3 s from others here, inside the simplifier call), and a normal
request during an attack is "within" when it gets its 200 in at most 2 x usual + 1 s. Before each
attack the server must settle (/readyz and a normal request answer as usual); then, while the
attack runs, /proc is sampled every 0.2 s for each worker's resident memory, and /livez and
/readyz are polled every 0.2 s while a normal request is sent over and over.

One row per attack: the API worker's and each runner worker's peak RSS increase over its level
just before the attack, the longest /livez and /readyz answers, the normal requests, the
statuses the attack got, and PASS when the RSS increase is at most 200 MB everywhere, /readyz
always answered within 1 s, every normal request got its 200 within its time and no worker died
(validation-log also: the name never reached the log, no log record or 4xx answer over 64 KiB).

Safety: an attack whose worker grows past --rss-abort-mb, or that leaves the machine less than
--min-available-mb of memory, is stopped there (FAIL); a server this script started is then
restarted, as it is when it died. A run takes 4-7 minutes on 2 cores.
"""

# ruff: noqa: E501  (the key table below is wider than code lines)
"""Every Redis key and stream name Atelier uses, in one place.

On one Redis server every key is the prefix plus the name below (`atelier:jobs:text`).

Slots on a Redis Cluster (`redis+cluster://`): the prefix carries a hash tag (`{atelier}:`,
`bot.cluster.tagged_prefix`) and each key lands in the slot of its group, so every key that
a Lua script or a transaction touches together shares one slot while the groups spread
over the masters (`Keys._in`):

| group (slot) | spelled on a cluster | keys | touched together by |
| --- | --- | --- | --- |
| the queue | `{atelier}:…` | `jobs:{kind}`, `job:{id}`, `result:{id}`, `results:{route}`, `delivering:{id}`, `delivered:{id}`, `dead`, `running:…`, `line:…`, `lines:{kind}`, `fair-servers:{kind}`, `member-jobs:…`, `bucket:…`, `user-jobs:…` | the admission script (a job, its server's line and caps, its member's buckets, its kind's stream and the queue cap over every line), promotion, the finish script (a job, its stream, its route's results, dead letters), one XREADGROUP over every kind's stream, the delivery transactions (`bot.queue.inbox`) |
| one job | `{atelier:job:{id}}:…` | `artifact:{id}:{n}`, `noticed:{id}`, `slack-message:{id}` | a result's files, written in one pipeline: the big values spread job by job |
| one server | `{atelier:server:{platform}:{server}}:…` | `settings:…`, `styles:…`, `style-uses:…`, `gallery:…`, `gallery-item:{id}`, `gallery-after:{id}`, `gallery-kind:…`, `gallery-member:…`, `gallery-indexed:…` | the gallery's transactions (a piece, its server's indexes, its parent's children) |
| challenges | `{atelier:challenges}:…` | every `challenge…` key, `digests:{platform}`, `outbox:{platform}`, `outbox-lease:…` | a phase change's transaction (the challenge, its server's board and stats, the platform's deadlines, its announcement in the outbox) |
| brainstorms | `{atelier:brainstorm}:…` | every `brainstorm…` key | a session's start (the session, its first ideas, its thread's index) |
| one collab poem | `{atelier:collab:{id}}:…` | `collab:{id}`, `collab-lines:{id}` | a turn's writes |
| workers | `{atelier:workers}:…` | `workers:{kind}`, `worker:{id}` | a heartbeat |
| alone | `atelier:…` (no tag: the slot of the whole name) | `once:…`, `collab-current:…`, `modlog:…`, `discord:reply:…`, `adapter-alive:…`, `post-bucket:…`, `web-servers`, `web-secret` | nothing else (single-key commands and transactions) |

(Braces in the table's key names are placeholders; on a cluster only the group's braces are a
hash tag.) Two writes cross groups and are ordered so that a crash between them loses
nothing a member sees: a gallery piece persists its files (the job's slot) before the
gallery keeps it, and drops them after the gallery forgot it. `Keys.scan_patterns` matches
all three spellings of a prefix. The queue stays one slot: its admission is one atomic
script across a job, its server's line and its kind's stream, which is what keeps an
accepted job from being lost or counted twice; its keys are small (job JSON, ids).

| key (after the prefix, default `atelier:`) | type | what it holds | lifetime |
| --- | --- | --- | --- |
| `jobs:{kind}` (`text`, `image`, `music`) | stream | queued jobs, field `job` (JSON); consumer group `workers` | entry deleted once its job finishes; length plus `lines:{kind}` capped by `ATELIER_MAX_QUEUE_LENGTH` at enqueue |
| `job:{id}` | hash | `job` (JSON), `entry` (stream id), `state` (waiting, queued, running, done, failed, dead), `attempts`, `worker`, `created`, `finished` | `ATELIER_JOB_TTL` (7 days) from enqueue |
| `result:{id}` | string | the result (JSON) | `ATELIER_JOB_TTL` |
| `artifact:{id}:{n}` | string | the n-th file of a job's result (base64): images, audio, MIDI | `ATELIER_JOB_TTL`; kept as long as the piece once it is in a gallery (its web page shows it) |
| `noticed:{id}` | string | set once the watchdog told a waiting job's requester that no worker is online | `ATELIER_JOB_TTL` |
| `results:{route}` | stream | results and progress for one platform (`discord`, `slack`) or one console session (`console:{session}`): fields `type` (result, progress), `job`, `data` (JSON); consumer group `adapters` | trimmed to about 10,000 entries; a console session deletes its own on exit |
| `delivering:{id}` | string | an adapter's short claim while it posts a result | 60 s |
| `delivered:{id}` | string | set once a result is posted: a second read posts nothing | `ATELIER_JOB_TTL` |
| `adapter-alive:{route}:{consumer}` | string | an adapter replica's heartbeat; while it is missing, live replicas take over its pending results (`bot.queue.inbox`) | `REPLICA_TTL_S` (5 s), refreshed about every second |
| `post-bucket:{platform}:{channel}` | hash | a channel's posting token bucket shared by all replicas (`bot.queue.post_limits`): `tokens`, `at` | until full again (seconds) |
| `dead` | stream | dead letters: `job` (raw entry), `kind`, `reason`, `attempts`, `at` | trimmed to about 10,000 entries |
| `settings:{platform}:{server}` | hash | a server's settings (`bot.desk.server_settings`), one JSON value per field | until changed |
| `bucket:{platform}:{server}` | hash | the server's token bucket (`bot.queue.limits`): `tokens` left, `at` (unix seconds of the last take) | until full again (a minute or so) |
| `bucket:{platform}:{server}:{user}` | hash | a member's token bucket, as above | until full again |
| `member-jobs:{platform}:{server}:{user}` | sorted set | job id -> time accepted: a member's unfinished jobs, for `member_max_running` (finished ones dropped when next counted) | `ATELIER_JOB_TTL` from the last job |
| `running:{kind}:{platform}:{server}` | sorted set | job id -> time admitted: the server's jobs of that kind in the stream (`bot.queue.fairness`), at most `server_max_running` | a member leaves when its job finishes (or the worker's sweep finds it finished) |
| `line:{kind}:{platform}:{server}` | list | job ids of the server waiting for a slot, oldest first; their `job:{id}` hash says `waiting` | each leaves when promoted into `jobs:{kind}` |
| `lines:{kind}` | sorted set | job id -> time accepted: every job waiting in some server's line (counted against the queue cap and shown by `/atelier status`) | as the lines |
| `fair-servers:{kind}` | set | `{platform}:{server}` of the servers with a running set or a line, for the worker's sweep | a member leaves when both are empty |
| `user-jobs:{platform}:{user}` | sorted set | a member's last 10 job ids by time, for `/atelier status` | 1 day |
| `brainstorm:{id}` | hash | a brainstorm session: topic, platform, channel, thread, list_ref (the list message), owner, asked, closed | 14 days from the last idea |
| `brainstorm-ideas:{id}` | list | the session's ideas in order, each JSON `{text, author_id, author_name}` | as the session |
| `brainstorm-votes:{id}:{n}` | set | who voted for idea n (one vote per person; a second click withdraws) | as the session |
| `brainstorm-thread:{platform}:{channel}:{thread}` | string | the session id living in that thread | as the session |
| `once:{platform}:{delivery}` | string | marks a click or message already handled (votes, added ideas, `line:{delivery}` for a poem's thread replies, `modlog:{what}:{delivery}` for a moderation note), so a redelivery does nothing | 1 day |
| `slack-message:{job_id}` | string | JSON `{channel, ts, thread_ts}` of the Slack message that shows a job, edited with progress and the result | `ATELIER_JOB_TTL` |
| `workers:{kind}` | sorted set | worker id -> deadline (unix seconds) of its heartbeat: alive while in the future | member removed on clean exit or once stale |
| `worker:{id}` | hash | a worker's host, pid, model, kinds, started | 3 heartbeats, refreshed by each |
| `challenge:{id}` | hash | a challenge, field `data` (JSON: theme, server, channel, phase times, rules, state, round) | kept (small; the record of past challenges) |
| `challenge-entries:{id}` | list | the challenge's entries in order, each JSON `{author_id, author_name, made, kind, text, url, job_id}` | as the challenge |
| `challenge-votes:{id}:{n}` | set | who voted for entry n (one vote per member; never shown, only counted) | as the challenge |
| `challenge-current:{platform}:{server}` | string | the id of the server's running challenge | until it closes |
| `challenge-seq:{platform}:{server}` | string | the server's challenge counter (a challenge's round, for streaks) | kept |
| `challenge-deadlines:{platform}` | sorted set | challenge id -> unix time of its next phase change (round opens, voting opens, close); polled by every adapter | member removed at close |
| `challenge-claim:{id}:{state}` | string | claims one phase change, so two pollers never make it twice (the change itself is one MULTI/EXEC that watches `challenge:{id}`, so a poller that outlives its claim writes nothing) | 60 s |
| `challenge-board:{platform}:{server}` | sorted set | member -> leaderboard points (3, 2, 1 for the first three places) | kept |
| `challenge-stats:{platform}:{server}` | hash | `{user}:wins`, `{user}:streak`, `{user}:last` (round last entered), `{user}:name` | kept |
| `challenge-closed:{platform}:{server}` | sorted set | challenge id -> when it closed, for the weekly digest | kept |
| `outbox:{platform}` | hash | announcements waiting to be posted (challenge phase changes, written in the change's own transaction; digests; moderation notes): dedupe key (`{challenge}:{phase}`, `digest:{server}:{due}`) -> JSON `{channel, text, buttons}`; the adapter deletes a field only after its post | until posted |
| `outbox-lease:{platform}:{key}` | string | an adapter's short claim while it posts one outbox entry; a crashed poster's entry is posted again once it lapses | `OUTBOX_LEASE_S` (10 s) |
| `digests:{platform}` | sorted set | server -> unix time of its next weekly digest (servers that set `digest_channel`) | member removed when the setting is cleared |
| `challenge-themes:{platform}:{server}` | string | the job id of the model's three proposed themes, for `/challenge new pick:n` | 1 day |
| `collab:{id}` | hash | a poem written together: field `data` (JSON: theme, form, turns, channel, thread, pending model job) | 30 days |
| `collab-lines:{id}` | list | its lines in order, each JSON `{text, author_id, author_name}` (author "" = the model) | as the poem |
| `collab-current:{platform}:{channel}` | string | the poem being written in that channel or thread | as the poem |
| `gallery:{platform}:{server}` | sorted set | job id -> time delivered: the server's gallery, newest first | entries older than the server's `gallery_days` are dropped when read |
| `gallery-item:{job_id}` | string | a gallery piece: JSON with prompt, text, model, seed, settings, who asked, remix parent and its author | as the gallery entry (deleted with it) |
| `gallery-kind:{platform}:{server}:{kind}` | sorted set | job id -> time delivered: the server's pieces of one kind (poem, image, ...), for the web gallery's filter | as the gallery entries |
| `gallery-member:{platform}:{server}:{name}` | sorted set | the same for one member's display name (casefolded) | as the gallery entries |
| `gallery-indexed:{platform}:{server}` | string | set once the two indexes above hold every piece recorded before they existed | kept |
| `gallery-after:{job_id}` | sorted set | job id -> time delivered: the pieces made after this one (remixes, chains), for its web page | as the gallery entry |
| `web-servers` | hash | a server's web slug (an HMAC of its platform and id) -> JSON `[platform, server]`, so links carry no platform id | kept (small) |
| `web-secret` | string | the key that signs web gallery links when `ATELIER_WEB_SECRET` is not set (made once, at first use) | kept |
| `styles:{platform}:{server}` | hash | the server's shared styles: name -> JSON `{name, suffix, command, model, author}` | until replaced |
| `style-uses:{platform}:{server}` | sorted set | style name -> times used | kept |
| `modlog:{platform}` | list | notes for servers' moderation log channels (refused prompts, withheld or blurred results), each JSON `{channel, text}`; the adapter's scheduler pops and posts them | last 1,000 kept; 7 days from the last note |
| `discord:reply:{interaction}` | hash | what the Discord adapter needs to edit a deferred reply: `app`, `token` (secret, never logged), `message`, `expires`, `original` (the job whose result took the reply) | until the interaction token expires (`ATELIER_DISCORD_TOKEN_TTL`) |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.jobs import JobKind

WORKER_GROUP = "workers"
ADAPTER_GROUP = "adapters"
RESULTS_MAXLEN = 10_000
DEAD_MAXLEN = 10_000
DELIVERY_CLAIM_S = 60
REPLICA_TTL_S = 5  # an adapter replica silent this long is dead: its results move on


_TAG = re.compile(r"\{([^{}]+)\}")
QUEUE = ""  # the queue's own slot: the prefix's hash tag as written


@dataclass(frozen=True)
class Keys:
    """Key names. On a single Redis every key is the prefix plus its name, as always. On a
    cluster the prefix holds a hash tag (`{atelier}:`) and each key lands in its group's
    slot: the queue's keys in the prefix's own (`{atelier}:jobs:text`), a group's under a
    tag of its own (`{atelier:server:discord:G}:gallery:discord:G`), and a key that no
    script or transaction shares with another under the prefix without braces
    (`atelier:once:slack:D1`), so it hashes on its whole name."""

    prefix: str = "atelier:"

    def _in(self, group: str | None, name: str) -> str:
        """`name` under the prefix, in `group`'s slot (QUEUE: the queue's; None: its own)."""
        tag = _TAG.search(self.prefix)
        if tag is None or group == QUEUE:
            return f"{self.prefix}{name}"
        before, after = self.prefix[: tag.start()], self.prefix[tag.end() :]
        body = tag.group(1)
        if group is None:
            return f"{before}{body}{after}{name}"
        return f"{before}{{{body}:{group}}}{after}{name}"

    # The queue (one slot: the admission, promotion and finish scripts, the workers'
    # XREADGROUP over every kind, and the delivery transactions touch these together).

    def jobs(self, kind: JobKind | str) -> str:
        return self._in(QUEUE, f"jobs:{JobKind(kind).value}")

    def job(self, job_id: str) -> str:
        return self._in(QUEUE, f"job:{job_id}")

    def result(self, job_id: str) -> str:
        return self._in(QUEUE, f"result:{job_id}")

    def results(self, route: str) -> str:
        return self._in(QUEUE, f"results:{route}")

    def delivering(self, job_id: str) -> str:
        return self._in(QUEUE, f"delivering:{job_id}")

    def delivered(self, job_id: str) -> str:
        return self._in(QUEUE, f"delivered:{job_id}")

    @property
    def dead(self) -> str:
        return self._in(QUEUE, "dead")

    def user_jobs(self, platform: str, user_id: str) -> str:
        return self._in(QUEUE, f"user-jobs:{platform}:{user_id}")

    def bucket(self, platform: str, server_id: str, user_id: str = "") -> str:
        member = f":{user_id}" if user_id else ""
        return self._in(QUEUE, f"bucket:{platform}:{server_id}{member}")

    def member_jobs(self, platform: str, server_id: str, user_id: str) -> str:
        return self._in(QUEUE, f"member-jobs:{platform}:{server_id}:{user_id}")

    def running(self, kind: JobKind | str, server: str) -> str:
        """`server` is `{platform}:{server id}` (`bot.queue.fairness.server_ref`)."""
        return self._in(QUEUE, f"running:{JobKind(kind).value}:{server}")

    def line(self, kind: JobKind | str, server: str) -> str:
        return self._in(QUEUE, f"line:{JobKind(kind).value}:{server}")

    def lines(self, kind: JobKind | str) -> str:
        return self._in(QUEUE, f"lines:{JobKind(kind).value}")

    def fair_servers(self, kind: JobKind | str) -> str:
        return self._in(QUEUE, f"fair-servers:{JobKind(kind).value}")

    # A job's files and marks that no queue script touches: one slot per job.

    def artifact(self, job_id: str, n: int) -> str:
        return self._in(f"job:{job_id}", f"artifact:{job_id}:{n}")

    def noticed(self, job_id: str) -> str:
        return self._in(f"job:{job_id}", f"noticed:{job_id}")

    def slack_message(self, job_id: str) -> str:
        return self._in(f"job:{job_id}", f"slack-message:{job_id}")

    # A server's settings, styles and gallery: one slot per server.

    def settings(self, platform: str, server_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"settings:{platform}:{server_id}")

    def styles(self, platform: str, server_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"styles:{platform}:{server_id}")

    def style_uses(self, platform: str, server_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"style-uses:{platform}:{server_id}")

    def gallery(self, platform: str, server_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"gallery:{platform}:{server_id}")

    def gallery_item(self, platform: str, server_id: str, job_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"gallery-item:{job_id}")

    def gallery_kind(self, platform: str, server_id: str, kind: str) -> str:
        group = f"server:{platform}:{server_id}"
        return self._in(group, f"gallery-kind:{platform}:{server_id}:{kind}")

    def gallery_member(self, platform: str, server_id: str, name: str) -> str:
        group, who = f"server:{platform}:{server_id}", name.strip().casefold()
        return self._in(group, f"gallery-member:{platform}:{server_id}:{who}")

    def gallery_indexed(self, platform: str, server_id: str) -> str:
        group = f"server:{platform}:{server_id}"
        return self._in(group, f"gallery-indexed:{platform}:{server_id}")

    def gallery_after(self, platform: str, server_id: str, job_id: str) -> str:
        return self._in(f"server:{platform}:{server_id}", f"gallery-after:{job_id}")

    # Brainstorms (a session's transaction names its thread's index): one slot.

    def brainstorm(self, session_id: str) -> str:
        return self._in("brainstorm", f"brainstorm:{session_id}")

    def brainstorm_ideas(self, session_id: str) -> str:
        return self._in("brainstorm", f"brainstorm-ideas:{session_id}")

    def brainstorm_votes(self, session_id: str, number: int) -> str:
        return self._in("brainstorm", f"brainstorm-votes:{session_id}:{number}")

    def brainstorm_thread(self, platform: str, channel_id: str, thread_id: str) -> str:
        return self._in("brainstorm", f"brainstorm-thread:{platform}:{channel_id}:{thread_id}")

    # Challenges, their deadlines and the announcements outbox (a phase change writes its
    # announcement in its own transaction): one slot.

    def challenge(self, challenge_id: str) -> str:
        return self._in("challenges", f"challenge:{challenge_id}")

    def challenge_entries(self, challenge_id: str) -> str:
        return self._in("challenges", f"challenge-entries:{challenge_id}")

    def challenge_votes(self, challenge_id: str, number: int) -> str:
        return self._in("challenges", f"challenge-votes:{challenge_id}:{number}")

    def challenge_current(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-current:{platform}:{server_id}")

    def challenge_seq(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-seq:{platform}:{server_id}")

    def challenge_deadlines(self, platform: str) -> str:
        return self._in("challenges", f"challenge-deadlines:{platform}")

    def challenge_claim(self, challenge_id: str, state: str) -> str:
        return self._in("challenges", f"challenge-claim:{challenge_id}:{state}")

    def challenge_board(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-board:{platform}:{server_id}")

    def challenge_stats(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-stats:{platform}:{server_id}")

    def challenge_closed(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-closed:{platform}:{server_id}")

    def digests(self, platform: str) -> str:
        return self._in("challenges", f"digests:{platform}")

    def outbox(self, platform: str) -> str:
        return self._in("challenges", f"outbox:{platform}")

    def outbox_lease(self, platform: str, key: str) -> str:
        return self._in("challenges", f"outbox-lease:{platform}:{key}")

    def challenge_themes(self, platform: str, server_id: str) -> str:
        return self._in("challenges", f"challenge-themes:{platform}:{server_id}")

    # A poem written together: one slot per poem.

    def collab(self, collab_id: str) -> str:
        return self._in(f"collab:{collab_id}", f"collab:{collab_id}")

    def collab_lines(self, collab_id: str) -> str:
        return self._in(f"collab:{collab_id}", f"collab-lines:{collab_id}")

    # The workers' heartbeats (a heartbeat writes both): one slot.

    def workers(self, kind: JobKind | str) -> str:
        return self._in("workers", f"workers:{JobKind(kind).value}")

    def worker(self, worker_id: str) -> str:
        return self._in("workers", f"worker:{worker_id}")

    # Keys that are only ever used alone: each in the slot of its own name.

    def once(self, platform: str, delivery_id: str) -> str:
        return self._in(None, f"once:{platform}:{delivery_id}")

    def collab_current(self, platform: str, channel_id: str) -> str:
        return self._in(None, f"collab-current:{platform}:{channel_id}")

    def modlog(self, platform: str) -> str:
        return self._in(None, f"modlog:{platform}")

    def discord_reply(self, interaction_id: str) -> str:
        return self._in(None, f"discord:reply:{interaction_id}")

    def adapter_alive(self, route: str, consumer: str) -> str:
        return self._in(None, f"adapter-alive:{route}:{consumer}")

    def post_bucket(self, platform: str, channel_id: str) -> str:
        return self._in(None, f"post-bucket:{platform}:{channel_id}")

    def web_servers(self) -> str:
        return self._in(None, "web-servers")

    def web_secret(self) -> str:
        return self._in(None, "web-secret")

    def scan_patterns(self) -> list[str]:
        """SCAN patterns that together match every key under the prefix (a cluster's keys
        sit under three spellings of it), for tools that clear a prefix."""
        tag = _TAG.search(self.prefix)
        if tag is None:
            return [f"{_glob(self.prefix)}*"]
        before, after = self.prefix[: tag.start()], self.prefix[tag.end() :]
        body = tag.group(1)
        return [
            f"{_glob(self.prefix)}*",
            f"{_glob(before)}\\{{{_glob(body)}:*\\}}{_glob(after)}*",
            f"{_glob(before + body + after)}*",
        ]


def _glob(text: str) -> str:
    """`text` matched literally by a Redis glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\{}" else c for c in text)

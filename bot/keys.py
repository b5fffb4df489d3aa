# ruff: noqa: E501  (the key table below is wider than code lines)
"""Every Redis key and stream name Atelier uses, in one place.

Slots on a Redis Cluster: every key below shares one hash slot, the prefix's. On a cluster
(`redis+cluster://`) the prefix carries a hash tag (`{atelier}:`, `bot.cluster.tagged_prefix`),
because the Lua scripts and transactions cross every grouping a finer layout could use:

| touched together | by | keys |
| --- | --- | --- |
| a job, its server, its kind | the admission script (`bot.queue.fairness`) | `job:{id}`, `jobs:{kind}`, `running:…`, `line:…`, `lines:{kind}`, `fair-servers:{kind}`, `member-jobs:…` |
| a server's line, a job, its kind | the promotion script | `running:…`, `line:…`, `lines:{kind}`, `fair-servers:{kind}`, `jobs:{kind}`, `job:{id}` |
| a job, its kind, its route | the finish script (`bot.queue.streams`) | `job:{id}`, `jobs:{kind}`, `results:{route}`, `result:{id}`, `dead` |
| one worker's kinds | one XREADGROUP over `jobs:text`, `jobs:image`, `jobs:music` | the job streams |
| a result, its delivery | MULTI/EXEC in `bot.queue.inbox` | `delivered:{id}`, `delivering:{id}`, `results:{route}` (XACK), `dead` |
| a challenge, its server, its platform | MULTI/EXEC watching `challenge:{id}` | `challenge…:{id}`, `challenge-board/stats/closed:…`, `challenge-deadlines:{platform}`, `outbox:{platform}` |
| a piece, its server, its parent | MULTI/EXEC in `bot.community.gallery` | `gallery…:{server}`, `gallery-item:{id}`, `gallery-after:{parent}` |

(Braces in the table are placeholders, not hash tags: only the prefix's braces are one.)

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

from dataclasses import dataclass

from bot.jobs import JobKind

WORKER_GROUP = "workers"
ADAPTER_GROUP = "adapters"
RESULTS_MAXLEN = 10_000
DEAD_MAXLEN = 10_000
DELIVERY_CLAIM_S = 60
REPLICA_TTL_S = 5  # an adapter replica silent this long is dead: its results move on


@dataclass(frozen=True)
class Keys:
    prefix: str = "atelier:"

    def jobs(self, kind: JobKind | str) -> str:
        return f"{self.prefix}jobs:{JobKind(kind).value}"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def result(self, job_id: str) -> str:
        return f"{self.prefix}result:{job_id}"

    def artifact(self, job_id: str, n: int) -> str:
        return f"{self.prefix}artifact:{job_id}:{n}"

    def noticed(self, job_id: str) -> str:
        return f"{self.prefix}noticed:{job_id}"

    def results(self, route: str) -> str:
        return f"{self.prefix}results:{route}"

    def delivering(self, job_id: str) -> str:
        return f"{self.prefix}delivering:{job_id}"

    def delivered(self, job_id: str) -> str:
        return f"{self.prefix}delivered:{job_id}"

    def settings(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}settings:{platform}:{server_id}"

    def user_jobs(self, platform: str, user_id: str) -> str:
        return f"{self.prefix}user-jobs:{platform}:{user_id}"

    def bucket(self, platform: str, server_id: str, user_id: str = "") -> str:
        member = f":{user_id}" if user_id else ""
        return f"{self.prefix}bucket:{platform}:{server_id}{member}"

    def member_jobs(self, platform: str, server_id: str, user_id: str) -> str:
        return f"{self.prefix}member-jobs:{platform}:{server_id}:{user_id}"

    def running(self, kind: JobKind | str, server: str) -> str:
        """`server` is `{platform}:{server id}` (`bot.queue.fairness.server_ref`)."""
        return f"{self.prefix}running:{JobKind(kind).value}:{server}"

    def line(self, kind: JobKind | str, server: str) -> str:
        return f"{self.prefix}line:{JobKind(kind).value}:{server}"

    def lines(self, kind: JobKind | str) -> str:
        return f"{self.prefix}lines:{JobKind(kind).value}"

    def fair_servers(self, kind: JobKind | str) -> str:
        return f"{self.prefix}fair-servers:{JobKind(kind).value}"

    def brainstorm(self, session_id: str) -> str:
        return f"{self.prefix}brainstorm:{session_id}"

    def brainstorm_ideas(self, session_id: str) -> str:
        return f"{self.prefix}brainstorm-ideas:{session_id}"

    def brainstorm_votes(self, session_id: str, number: int) -> str:
        return f"{self.prefix}brainstorm-votes:{session_id}:{number}"

    def brainstorm_thread(self, platform: str, channel_id: str, thread_id: str) -> str:
        return f"{self.prefix}brainstorm-thread:{platform}:{channel_id}:{thread_id}"

    def once(self, platform: str, delivery_id: str) -> str:
        return f"{self.prefix}once:{platform}:{delivery_id}"

    def slack_message(self, job_id: str) -> str:
        return f"{self.prefix}slack-message:{job_id}"

    @property
    def dead(self) -> str:
        return f"{self.prefix}dead"

    def workers(self, kind: JobKind | str) -> str:
        return f"{self.prefix}workers:{JobKind(kind).value}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def challenge(self, challenge_id: str) -> str:
        return f"{self.prefix}challenge:{challenge_id}"

    def challenge_entries(self, challenge_id: str) -> str:
        return f"{self.prefix}challenge-entries:{challenge_id}"

    def challenge_votes(self, challenge_id: str, number: int) -> str:
        return f"{self.prefix}challenge-votes:{challenge_id}:{number}"

    def challenge_current(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-current:{platform}:{server_id}"

    def challenge_seq(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-seq:{platform}:{server_id}"

    def challenge_deadlines(self, platform: str) -> str:
        return f"{self.prefix}challenge-deadlines:{platform}"

    def challenge_claim(self, challenge_id: str, state: str) -> str:
        return f"{self.prefix}challenge-claim:{challenge_id}:{state}"

    def challenge_board(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-board:{platform}:{server_id}"

    def challenge_stats(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-stats:{platform}:{server_id}"

    def challenge_closed(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-closed:{platform}:{server_id}"

    def digests(self, platform: str) -> str:
        return f"{self.prefix}digests:{platform}"

    def outbox(self, platform: str) -> str:
        return f"{self.prefix}outbox:{platform}"

    def outbox_lease(self, platform: str, key: str) -> str:
        return f"{self.prefix}outbox-lease:{platform}:{key}"

    def challenge_themes(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}challenge-themes:{platform}:{server_id}"

    def collab(self, collab_id: str) -> str:
        return f"{self.prefix}collab:{collab_id}"

    def collab_lines(self, collab_id: str) -> str:
        return f"{self.prefix}collab-lines:{collab_id}"

    def collab_current(self, platform: str, channel_id: str) -> str:
        return f"{self.prefix}collab-current:{platform}:{channel_id}"

    def gallery(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}gallery:{platform}:{server_id}"

    def gallery_item(self, job_id: str) -> str:
        return f"{self.prefix}gallery-item:{job_id}"

    def gallery_kind(self, platform: str, server_id: str, kind: str) -> str:
        return f"{self.prefix}gallery-kind:{platform}:{server_id}:{kind}"

    def gallery_member(self, platform: str, server_id: str, name: str) -> str:
        return f"{self.prefix}gallery-member:{platform}:{server_id}:{name.strip().casefold()}"

    def gallery_indexed(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}gallery-indexed:{platform}:{server_id}"

    def gallery_after(self, job_id: str) -> str:
        return f"{self.prefix}gallery-after:{job_id}"

    def web_servers(self) -> str:
        return f"{self.prefix}web-servers"

    def web_secret(self) -> str:
        return f"{self.prefix}web-secret"

    def styles(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}styles:{platform}:{server_id}"

    def style_uses(self, platform: str, server_id: str) -> str:
        return f"{self.prefix}style-uses:{platform}:{server_id}"

    def modlog(self, platform: str) -> str:
        return f"{self.prefix}modlog:{platform}"

    def discord_reply(self, interaction_id: str) -> str:
        return f"{self.prefix}discord:reply:{interaction_id}"

    def adapter_alive(self, route: str, consumer: str) -> str:
        return f"{self.prefix}adapter-alive:{route}:{consumer}"

    def post_bucket(self, platform: str, channel_id: str) -> str:
        return f"{self.prefix}post-bucket:{platform}:{channel_id}"

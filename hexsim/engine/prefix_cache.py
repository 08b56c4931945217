"""vLLM v1's automatic prefix caching, kept per shared segment instead of per block.

vLLM identifies each full KV block by a hash chained over every token before it
(`v1/core/kv_cache_utils.py`). A new request takes the longest run of cached full blocks of its
prompt (at most `prompt - 1` tokens, so the last token is always computed), holds them with a
reference count, and computes the rest. Its blocks are cached as soon as they are allocated for
the tokens scheduled (`allocate_slots` caches up to the tokens it is about to compute), so a
request admitted later in the same step already hits them. A freed block
that has a hash goes to the tail of the free queue and keeps its content until it is reused;
one without a hash (a partly filled block) goes to the head, to be reused first. Blocks are
allocated from the head, so cached content is evicted least recently freed first, and a request
frees its blocks tail first (`block_pool.py`, `single_type_kv_cache_manager.py`).

Here a prompt is a path of nodes, one per shared segment (a key and its tokens, after the same
earlier segments), so cost per request grows with segments, not tokens. A node owns the full
blocks whose last token falls inside it: block i, tokens [iB, (i+1)B), belongs to the node whose
token range holds token (i+1)B - 1, so a block straddling two segments is identified by both,
as a chained hash would. A node keeps how many of its leading blocks are in memory (`present`)
and how many are held by running requests (`hold`); blocks [hold, present) are free and cached,
sitting in the LRU queue as runs. Holders hold a path's leading blocks, and a child's blocks are
freed no later than its parent's, so eviction always takes a node's last present block and the
cached set stays a prefix-closed tree: the aggregate is exact.

A request's own full blocks (after its shared segments) are cached by vLLM too; nobody else can
hit them, but they take LRU places, so they are queued as dead runs. A preempted request can hit
its own blocks when it is admitted again: they become its own node, reachable only from it.
"""

from collections import deque

from hexsim.workload.model import Segment

SWEEP_AFTER = 1024  # empty runs the LRU queue may hold before they are swept out


class Node:
    """One shared segment after a given path: its full blocks, and how many are present and held."""

    __slots__ = ("first", "owned", "tokens", "present", "hold", "full", "partial", "runs", "children")

    def __init__(self, first: int, owned: int, tokens: int = 0):
        self.first = first  # index of its first block on the path
        self.owned = owned
        self.tokens = tokens  # its segment's tokens
        self.present = 0
        self.hold = 0
        self.full = 0  # holders that hold all of its blocks
        self.partial: dict[int, int] = {}  # blocks held -> holders, for holders that stop inside it
        self.runs: list[list] = []  # its free runs in the LRU queue, each [node, low, high]
        self.children: dict[str, Node] = {}


class Path:
    """A request's shared prefix as nodes; `blocks` of its full blocks are on them."""

    __slots__ = ("nodes", "blocks", "own", "held", "dup")

    def __init__(self, nodes: list[Node], blocks: int):
        self.nodes = nodes  # its shared segments' nodes, then its own node once it has one
        self.blocks = blocks
        self.own: Node | None = None  # the request's own cached blocks, after a preemption
        self.held = 0  # leading blocks of the path the request holds
        self.dup = False  # it computed a block another request had cached: the rest is private


class PrefixCache:
    """The free pool of one engine's KV cache and the cached content in it."""

    def __init__(self, block_size: int, free_blocks: int):
        self.block = block_size
        self.root = Node(0, 0)
        self.unhashed = free_blocks  # free blocks without content, reused first
        self.lru: deque[list] = deque()  # runs [node or None, low, high], least recently freed first
        self.cached_free = 0
        self.emptied = 0  # runs in the queue that requests took back whole, skipped when they come up
        self.held = 0  # blocks held on nodes, each counted once however many hold it
        self.queries = 0  # prompt tokens looked up, as vLLM's prefix_cache_queries (new requests)
        self.hits = 0

    @property
    def free(self) -> int:
        return self.unhashed + self.cached_free

    # -- paths -----------------------------------------------------------------------------

    def path(self, prefix: tuple[Segment, ...]) -> Path:
        """The nodes of a prompt that starts with `prefix`, made on first sight.

        A key names content, so after one path it has one length; a workload that gives it two
        (traces pooled without renaming their segments) gets a node per length, never a node
        whose blocks disagree with the path's."""
        block = self.block
        node, start, nodes = self.root, 0, []
        for segment in prefix:
            key, tokens, children = segment.key, segment.tokens, node.children
            node = children.get(key)
            end = start + tokens
            if node is None or node.tokens != tokens:
                other = key if node is None else (key, tokens)
                node = children.get(other)
                if node is None:
                    node = children[other] = Node(start // block, end // block - start // block, tokens)
            start = end
            nodes.append(node)
        return Path(nodes, start // block)

    def lookup(self, path: Path, tokens: int) -> tuple[int, int]:
        """Blocks of the longest cached run for a request of `tokens` tokens, and how many of them are free."""
        limit = (tokens - 1) // self.block
        hit = touched = 0
        for node in path.nodes:
            take = node.present if node.present < limit - hit else limit - hit
            if take > node.hold:
                touched += take - node.hold
            hit += take
            if take < node.owned or hit >= limit:
                break
        return hit, touched

    # -- holding ---------------------------------------------------------------------------

    def admit(self, path: Path, tokens: int, hit: int, kv_tokens: int, *, first_time: bool) -> int:
        """Hold the `hit` blocks a request found cached and the path blocks it is scheduled to
        compute (up to `kv_tokens`); returns how many blocks left the free pool."""
        if first_time:
            self.queries += tokens
            self.hits += hit * self.block
        before = self.cached_free
        self._hold(path, self._grow(path, hit, kv_tokens), touch=True)
        return before - self.cached_free

    def computed(self, path: Path, kv_tokens: int) -> None:
        """The request is scheduled to have `kv_tokens` of its prompt in KV: its newly full path
        blocks become cached."""
        grow = self._grow(path, path.held, kv_tokens)
        if grow > path.held:
            self._hold(path, grow, touch=False)

    def _grow(self, path: Path, grow: int, kv_tokens: int) -> int:
        """Cache the path's full blocks from `grow` up to `kv_tokens`; returns where they end."""
        upto = kv_tokens // self.block
        if upto > path.blocks:
            upto = path.blocks
        if upto <= grow or path.dup:
            return grow
        for node in path.nodes:
            end = node.first + node.owned
            if end <= grow:
                continue
            if node.first >= upto:  # not reached yet (a request's own node never is)
                break
            if node.present != grow - node.first:
                path.dup = True  # someone cached this block while we computed our own copy
                break
            stop = end if end < upto else upto
            node.present = stop - node.first
            grow = stop
            if stop < end:
                break
        return grow

    def release(self, path: Path, kv_tokens: int, *, keep_own: bool) -> int:
        """Free a request's blocks, tail first; returns how many blocks joined the free pool.

        Its own full blocks stay reachable (its own node) when `keep_own` and it held its whole
        shared prefix, else they are dead weight in the LRU queue; a partly filled last block is
        reused first."""
        block = self.block
        full = kv_tokens // block
        partial = 1 if kv_tokens % block else 0
        before = self.unhashed + self.cached_free
        own_start = path.blocks
        if keep_own and not path.dup and path.held >= own_start and full > own_start:
            own = path.own
            if own is None:
                own = path.own = Node(own_start, 0)
                path.nodes.append(own)
            if own.present == path.held - own_start:  # only this request holds its own node
                new = full - own_start
                self.held += new - own.hold
                own.owned = own.present = own.hold = new
                own.full, own.partial = 1, {}
                path.held = full
        dead = full - path.held
        if dead > 0:
            self._push(None, 0, dead)
        self.unhashed += partial
        self._unhold(path)
        return self.unhashed + self.cached_free - before

    def _hold(self, path: Path, upto: int, *, touch: bool) -> None:
        """Extend the request's hold from `path.held` to `upto` leading blocks (a node's hold only grows)."""
        old = path.held
        if upto <= old:
            return
        for node in path.nodes:
            first = node.first
            if first >= upto:
                break
            owned = node.owned
            if first + owned <= old:
                continue
            before = old - first if old > first else 0
            after = upto - first if upto - first < owned else owned
            if before == after:
                continue
            partial = node.partial
            if before:
                count = partial[before] - 1
                if count:
                    partial[before] = count
                else:
                    del partial[before]
            if after == owned:
                node.full += 1
                hold = owned
            else:
                partial[after] = partial.get(after, 0) + 1
                hold = owned if node.full else max(partial)
            if hold > node.hold:
                if touch:
                    self._touch(node, hold)
                self.held += hold - node.hold
                node.hold = hold
        path.held = upto

    def _unhold(self, path: Path) -> None:
        """Drop the request's whole hold, deepest node first (a node's hold only shrinks)."""
        old = path.held
        if not old:
            return
        lru, freed = self.lru, 0
        for node in reversed(path.nodes):
            first, owned = node.first, node.owned
            if first >= old or not owned:
                continue
            before = old - first if old - first < owned else owned
            partial = node.partial
            if before == owned:
                node.full -= 1
            else:
                count = partial[before] - 1
                if count:
                    partial[before] = count
                else:
                    del partial[before]
            hold = owned if node.full else max(partial) if partial else 0
            if hold < node.hold:
                run = [node, hold, node.hold]  # _push, inlined: this is the hot path of every release
                lru.append(run)
                node.runs.append(run)
                freed += node.hold - hold
                node.hold = hold
        self.cached_free += freed
        self.held -= freed
        path.held = 0

    # -- the free pool ---------------------------------------------------------------------

    def _push(self, node: Node | None, low: int, high: int) -> None:
        if node is None and self.lru and self.lru[-1][0] is None:
            self.lru[-1][2] += high - low  # dead runs side by side are one run
            self.cached_free += high - low
            return
        run = [node, low, high]
        self.lru.append(run)
        if node is not None:
            node.runs.append(run)
        self.cached_free += high - low

    def _touch(self, node: Node, upto: int) -> None:
        """Take the node's free blocks below `upto` out of the LRU queue: a request holds them again.
        A node's runs lie above its hold, the newest lowest, so they are trimmed from the newest.
        A run left empty stays in the queue, skipped when it comes up; once empty runs are most of the
        queue they are swept out, or an engine whose cache never fills would keep every one."""
        runs = node.runs
        while runs:
            run = runs[-1]
            low, high = run[1], run[2]
            if low >= upto:
                return
            if high > upto:
                self.cached_free -= upto - low
                run[1] = upto
                return
            self.cached_free -= high - low
            run[1] = high
            runs.pop()
            self.emptied += 1
            if self.emptied > SWEEP_AFTER and 2 * self.emptied > len(self.lru):
                self._sweep()

    def _sweep(self) -> None:
        """Drop the empty runs from the LRU queue, joining the dead runs they kept apart."""
        lru: deque[list] = deque()
        for run in self.lru:
            if run[1] == run[2]:
                continue
            if run[0] is None and lru and lru[-1][0] is None:
                lru[-1][2] += run[2] - run[1]
            else:
                lru.append(run)
        self.lru = lru
        self.emptied = 0

    def allocate(self, blocks: int) -> None:
        """Take `blocks` from the free pool: unhashed ones first, then the least recently freed cached ones."""
        if blocks <= self.unhashed:
            self.unhashed -= blocks
            return
        blocks -= self.unhashed
        self.unhashed = 0
        lru = self.lru
        while blocks:
            run = lru[0]
            node, low, high = run
            if high == low:  # emptied by a request that took its blocks back
                lru.popleft()
                self.emptied -= 1
                continue
            take = blocks if blocks < high - low else high - low
            blocks -= take
            self.cached_free -= take
            run[2] = high - take
            if node is not None:
                node.present = high - take
            if run[2] == low:
                lru.popleft()
                if node is not None:
                    node.runs.remove(run)

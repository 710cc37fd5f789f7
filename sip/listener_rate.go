package sip

import (
	"net/netip"
	"sync"
)

// rateSources is the most sources a Listener's rate limit tracks at once
// (ListenerConfig.NewConnRate). Each costs about 260 bytes (an entry and
// its map slot; measured with 200,000 sources sprayed at a full table), so
// the table never holds more than about 4.2 MB, however many sources an
// attacker sprays from.
const rateSources = 16384

// rateTable is a token bucket per source (connlimit.Source: an IPv4
// address, an IPv6 /64) for the rate of new connections: each source
// starts with burst tokens, earns rate tokens a second up to burst, and
// spends one per connection; a connection finding less than one token is
// refused (and spends nothing).
//
// The table holds at most max sources, most recently seen first. A source
// whose bucket has refilled is idle: forgetting it changes nothing (it
// would start full again), so each call forgets up to two idle sources at
// the tail, and the table holds about the sources seen in the last
// burst/rate seconds. When it is full of busy ones, a new source is not
// tracked: every such source draws on one shared overflow bucket (the same
// rate and burst). Forgetting a busy source instead would give it a full
// bucket at its next connection, and an attacker cycling through more
// than max sources would never be limited at all; this way the most a
// spray of sources gets is max sources' rates plus one.
//
// What it does not bound: max busy sources at once (an IPv6 /50 holds
// 16,384 /64s) get max times the rate (MaxConns and HandshakeTimeout
// still bound the connections open and their handshakes); while they
// hold the table, new honest sources share the overflow bucket with the
// attacker's.
//
// Times are nanoseconds on the caller's monotonic clock (so tests give
// theirs). allow does not allocate once the table has grown to its size.
type rateTable struct {
	perNS float64 // tokens earned per nanosecond
	burst float64
	max   int

	mu         sync.Mutex
	overflow   rateEntry // the bucket of the sources not tracked (table full)
	idx        map[netip.Prefix]int32
	ents       []rateEntry
	head, tail int32 // most and least recently seen; -1: none
	free       int32 // a list of unused entries, through next; -1: none
}

type rateEntry struct {
	key        netip.Prefix
	tokens     float64
	last       int64 // when tokens was counted
	prev, next int32
}

// newRateTable returns a table allowing rate connections a second per
// source, burst at once, tracking at most max sources.
func newRateTable(rate float64, burst, max int) *rateTable {
	return &rateTable{perNS: rate / 1e9, burst: float64(burst), max: max, overflow: rateEntry{tokens: float64(burst)},
		idx: make(map[netip.Prefix]int32), head: -1, tail: -1, free: -1}
}

// allow spends a token of src's bucket at now and reports whether there
// was one.
func (t *rateTable) allow(src netip.Prefix, now int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range 2 {
		if t.tail < 0 || t.ents[t.tail].key == src || t.level(&t.ents[t.tail], now) < t.burst {
			break
		}
		t.remove(t.tail)
	}
	if i, ok := t.idx[src]; ok {
		t.unlink(i)
		t.pushFront(i)
		return t.spend(&t.ents[i], now)
	}
	if len(t.idx) >= t.max {
		// full of busy sources: src shares the overflow bucket, untracked
		return t.spend(&t.overflow, now)
	}
	var i int32
	if t.free >= 0 {
		i, t.free = t.free, t.ents[t.free].next
	} else {
		t.ents = append(t.ents, rateEntry{})
		i = int32(len(t.ents) - 1)
	}
	t.ents[i] = rateEntry{key: src, tokens: t.burst - 1, last: now}
	t.idx[src] = i
	t.pushFront(i)
	return true
}

// spend takes a token of e's bucket at now, reporting whether there was
// one.
func (t *rateTable) spend(e *rateEntry, now int64) bool {
	e.tokens, e.last = t.level(e, now), max(now, e.last)
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// level is e's tokens at now.
func (t *rateTable) level(e *rateEntry, now int64) float64 {
	if now <= e.last {
		return e.tokens // a clock read before another caller's: no refill
	}
	return min(t.burst, e.tokens+float64(now-e.last)*t.perNS)
}

// len is the number of sources tracked.
func (t *rateTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idx)
}

func (t *rateTable) remove(i int32) {
	delete(t.idx, t.ents[i].key)
	t.unlink(i)
	t.ents[i] = rateEntry{next: t.free}
	t.free = i
}

func (t *rateTable) unlink(i int32) {
	e := &t.ents[i]
	if e.prev >= 0 {
		t.ents[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next >= 0 {
		t.ents[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
}

func (t *rateTable) pushFront(i int32) {
	e := &t.ents[i]
	e.prev, e.next = -1, t.head
	if t.head >= 0 {
		t.ents[t.head].prev = i
	} else {
		t.tail = i
	}
	t.head = i
}

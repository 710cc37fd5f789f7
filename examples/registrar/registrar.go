package main

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// Registration expiry bounds, seconds.
const (
	defaultExpires = 3600
	minExpires     = 60
	maxExpires     = 7200
)

// binding is one contact of an address-of-record.
type binding struct {
	contact sipgosip.Uri
	expires time.Time
	callID  string
	cseq    uint32
}

// registrar keeps bindings in memory (RFC 3261 §10.3).
type registrar struct {
	realm string
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	bindings map[string]map[string]*binding // AOR user → contact URI → binding
}

func newRegistrar(realm string, log *slog.Logger) *registrar {
	return &registrar{realm: realm, log: log, now: time.Now, bindings: map[string]map[string]*binding{}}
}

// respond answers statelessly (sip.RespondStateless): none of the
// registrar's answers needs transaction state, so none is kept (a
// transaction would hold the request and its answer for 32 s after a 200
// over UDP). A client that misses the answer sends the REGISTER again; the
// Guard passes that retransmission marked Identity.Retransmission, and it
// is answered again without being applied twice.
func (r *registrar) respond(tx sipgosip.ServerTransaction, res *sipgosip.Response) {
	if err := sip.RespondStateless(tx, res); err != nil {
		r.log.Warn("sending response failed", "status", res.StatusCode, "error", err)
	}
}

// handleRegister runs after the Guard, so the identity is in ctx.
func (r *registrar) handleRegister(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	id, _ := sip.IdentityFrom(ctx)
	to := req.To()
	if to == nil || to.Address.User == "" {
		r.respond(tx, sipgosip.NewResponseFromRequest(req, 400, "Bad Request (To has no user)", nil))
		return
	}
	aor := to.Address.User
	if aor != id.User {
		// RFC 3261 §10.3 step 6: only the owner may change an AOR's bindings
		r.log.Info("refused: registering another user's address-of-record", "user", id.User, "aor", aor, "source", id.Source.String())
		r.respond(tx, sipgosip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}

	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 {
			r.respond(tx, sipgosip.NewResponseFromRequest(req, 400, "Bad Request (Expires)", nil))
			return
		}
		headerExpires = n
	}
	var contacts []*sipgosip.ContactHeader
	for _, h := range req.GetHeaders("Contact") {
		if c, ok := h.(*sipgosip.ContactHeader); ok {
			contacts = append(contacts, c)
		}
	}
	callID := ""
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	var cseq uint32
	if c := req.CSeq(); c != nil {
		cseq = c.SeqNo
	}
	now := r.now()

	// Contact: * with Expires: 0 removes every binding of the AOR.
	for _, c := range contacts {
		if c.Address.Wildcard {
			if len(contacts) != 1 || headerExpires != 0 {
				r.respond(tx, sipgosip.NewResponseFromRequest(req, 400, "Bad Request (Contact: * needs Expires: 0 and no other Contact)", nil))
				return
			}
			if !id.Retransmission {
				r.mu.Lock()
				n := len(r.bindings[aor])
				delete(r.bindings, aor)
				r.mu.Unlock()
				r.log.Info("removed all bindings", "aor", aor, "count", n, "source", id.Source.String())
			}
			r.respond(tx, r.ok(req, aor, now))
			return
		}
	}

	// check every expiry before changing anything
	type change struct {
		uri     sipgosip.Uri
		expires int
	}
	var changes []change
	for _, c := range contacts {
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				r.respond(tx, sipgosip.NewResponseFromRequest(req, 400, "Bad Request (Contact expires)", nil))
				return
			}
			exp = n
		}
		if exp < 0 {
			exp = defaultExpires
		}
		if exp > 0 && exp < minExpires {
			res := sipgosip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sipgosip.NewHeader("Min-Expires", strconv.Itoa(minExpires)))
			r.respond(tx, res)
			return
		}
		changes = append(changes, change{c.Address, min(exp, maxExpires)})
	}

	if id.Retransmission {
		// applied when it first came: answer with the bindings as they are
		r.respond(tx, r.ok(req, aor, now))
		return
	}
	r.mu.Lock()
	r.purgeLocked(aor, now)
	set := r.bindings[aor]
	if set == nil {
		set = map[string]*binding{}
		r.bindings[aor] = set
	}
	for _, ch := range changes {
		key := ch.uri.String()
		b, exists := set[key]
		// RFC 3261 §10.3 step 7: an older request of the same Call-ID does not win
		if exists && b.callID == callID && cseq <= b.cseq {
			continue
		}
		if ch.expires == 0 {
			if exists {
				delete(set, key)
				r.log.Info("binding removed", "aor", aor, "contact", key)
			}
			continue
		}
		if !exists {
			r.log.Info("binding added", "aor", aor, "contact", key, "expires", ch.expires, "source", id.Source.String())
		}
		set[key] = &binding{contact: ch.uri, expires: now.Add(time.Duration(ch.expires) * time.Second), callID: callID, cseq: cseq}
	}
	if len(set) == 0 {
		delete(r.bindings, aor)
	}
	r.mu.Unlock()
	r.respond(tx, r.ok(req, aor, now))
}

// ok is the 200 listing the AOR's current bindings with their remaining
// expiry (RFC 3261 §10.3 step 8).
func (r *registrar) ok(req *sipgosip.Request, aor string, now time.Time) *sipgosip.Response {
	res := sipgosip.NewResponseFromRequest(req, 200, "OK", nil)
	for _, b := range r.Bindings(aor, now) {
		c := &sipgosip.ContactHeader{Address: b.contact}
		c.Params.Add("expires", strconv.Itoa(int(b.expires.Sub(now).Round(time.Second)/time.Second)))
		res.AppendHeader(c)
	}
	res.AppendHeader(sipgosip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	return res
}

// Bindings returns the live bindings of aor, sorted by contact.
func (r *registrar) Bindings(aor string, now time.Time) []binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purgeLocked(aor, now)
	var out []binding
	for _, b := range r.bindings[aor] {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].contact.String() < out[j].contact.String() })
	return out
}

func (r *registrar) purgeLocked(aor string, now time.Time) {
	for k, b := range r.bindings[aor] {
		if !now.Before(b.expires) {
			delete(r.bindings[aor], k)
		}
	}
	if len(r.bindings[aor]) == 0 {
		delete(r.bindings, aor)
	}
}

package sip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"
)

// fastAnswer is what Guard.answerRaw decided about a datagram.
type fastAnswer struct {
	// handled: the datagram is answered (or dropped) and must not reach
	// sipgo.
	handled bool
	// msg is the answer, nil for none; it is sent to dst.
	msg []byte
	dst netip.AddrPort
}

// answerRaw is the Guard's fast path (PacketConnConfig.Guard): for a
// request datagram from src that the Guard would answer without a handler
// and without state — no credentials (challenge), a blocked source, an
// unknown realm or a source off its tenant's allowlist (403), the ACK of
// one of its own answers (dropped) — it builds the same answer Check and
// Wrap would send, appended to buf, without sipgo and, on the challenge
// path, without allocating. Everything else (credentials to verify,
// in-dialog requests, ACK and CANCEL, methods that pass, a realm function
// of the caller's, a tenant lookup that fails, anything readRawRequest
// does not read) is not handled: sipgo and the Guard in front of the
// handlers decide it as before. parse turns the datagram into a sipgo
// request for GuardConfig.OnDecision, only when that is set.
func (g *Guard) answerRaw(ctx context.Context, data []byte, src netip.AddrPort, buf []byte, parse func([]byte) *sipgosip.Request) fastAnswer {
	if mayHaveCredentials(data) {
		// an answer to verify: the Guard decides it (what the fast path
		// would do first, drop the ACK of its own answer or refuse a
		// blocked source, it does first too), so do not read it twice
		return fastAnswer{}
	}
	var r rawRequest
	if !readRawRequest(data, &r) {
		return fastAnswer{}
	}
	from := netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	id := Identity{Source: from}
	if r.method == sipgosip.ACK {
		if !r.hasTag || !bytes.HasPrefix(r.toTag, g.tags.prefixBytes) {
			return fastAnswer{}
		}
		g.logRaw(ctx, slog.LevelDebug, &r, from, "", "dropped: ACK of an answer sent statelessly")
		g.decidedRaw(ctx, data, parse, id, ErrStatelessACK, ReasonStatelessACK, 0)
		return fastAnswer{handled: true}
	}
	if r.hasTag {
		return fastAnswer{} // in a dialog: its owner, or the Guard, decides
	}
	refuse := func(reason string, err error) fastAnswer {
		ans := fastAnswer{handled: true, dst: r.destination(src)}
		ans.msg = g.appendRawAnswer(buf, &r, from, sipgosip.StatusForbidden, "Forbidden", "")
		g.decidedRaw(ctx, data, parse, id, err, reason, sipgosip.StatusForbidden)
		return ans
	}
	if g.lock.blocked(from.Addr(), g.now()) {
		g.logRaw(ctx, slog.LevelDebug, &r, from, "", "refused: source blocked after repeated failures")
		return refuse(ReasonSourceBlocked, ErrSourceBlocked)
	}
	if !g.defaultRealm {
		return fastAnswer{}
	}
	realm := g.realmOf(r.host)
	tenant, err := g.tenants.LookupTenant(ctx, realm)
	if err != nil {
		if errors.Is(err, ErrTenantBusy) {
			// answered here: the Guard would ask the lookup again
			g.logRaw(ctx, slog.LevelInfo, &r, from, "", "refused for now: tenant lookups over their budget", "realm", realm)
			ans := fastAnswer{handled: true, dst: r.destination(src)}
			ans.msg = g.appendRawAnswer(buf, &r, from, sipgosip.StatusServiceUnavailable, "Service Unavailable", "")
			g.decidedRaw(ctx, data, parse, id, err, ReasonUnavailable, sipgosip.StatusServiceUnavailable)
			return ans
		}
		if !errors.Is(err, ErrUnknownTenant) {
			return fastAnswer{} // the Guard logs it and answers 500
		}
		g.logRaw(ctx, slog.LevelInfo, &r, from, "", "refused: no tenant for realm", "realm", realm)
		return refuse(ReasonUnknownRealm, err)
	}
	if tenant.Realm == "" {
		tenant.Realm = realm
	}
	id.Tenant, id.Realm = tenant.ID, tenant.Realm
	if !tenant.Allowlist.Allows(from.Addr()) {
		g.logRaw(ctx, slog.LevelInfo, &r, from, tenant.ID, "refused: source not on the tenant's allowlist")
		return refuse(ReasonSourceNotAllowed, ErrSourceRefused)
	}
	if r.method == sipgosip.CANCEL || g.methods[r.method] || tenant.NoDigest || r.credentials {
		return fastAnswer{} // passes, or has an answer to verify
	}
	code, reason := sipgosip.StatusProxyAuthRequired, "Proxy Authentication Required"
	if r.method == sipgosip.REGISTER {
		code, reason = sipgosip.StatusUnauthorized, "Unauthorized"
	}
	if g.log.Enabled(ctx, slog.LevelDebug) { // (its arguments would be boxed)
		g.logRaw(ctx, slog.LevelDebug, &r, from, tenant.ID, "challenged: no credentials for the realm", "realm", tenant.Realm)
	}
	ans := fastAnswer{handled: true, dst: r.destination(src)}
	ans.msg = g.appendRawAnswer(buf, &r, from, code, reason, tenant.Realm)
	g.decidedRaw(ctx, data, parse, id, ErrNoCredentials, ReasonCredentialsRequired, code)
	return ans
}

// mayHaveCredentials reports whether a datagram may hold an Authorization
// or Proxy-Authorization header: its header section holds
// "authorization:" in any case. It errs on the side of yes.
//
// It looks only around the section's z and Z bytes (the 8th letter of
// "authorization", and rare in SIP otherwise: the branch's magic cookie),
// found with two vectorised IndexByte scans, rather than at every a or A.
func mayHaveCredentials(data []byte) bool {
	end := bytes.Index(data, endOfHead)
	if end < 0 {
		end = len(data)
	}
	head := data[:end]
	const word, z = "authorization", len("authori") // word[z] == 'z'
	for _, c := range [2]byte{'z', 'Z'} {
		for i := z; i < len(head); {
			k := bytes.IndexByte(head[i:], c)
			if k < 0 {
				break
			}
			i += k
			if i+len(word)-z <= len(head) && asciiEqualFold(head[i-z:i-z+len(word)], word) {
				return true
			}
			i++
		}
	}
	return false
}

// realmOf returns the lower-case realm of a Request-URI host, reusing the
// string of the previous request when it is the same (a single-tenant
// server's requests all name one host), so the common case does not
// allocate.
func (g *Guard) realmOf(host []byte) string {
	if last := g.lastRealm.Load(); last != nil && asciiEqualFold(host, *last) {
		return *last
	}
	realm := strings.ToLower(string(host))
	g.lastRealm.Store(&realm)
	return realm
}

// decidedRaw reports a fast-path decision to GuardConfig.OnDecision, with
// the datagram parsed by sipgo (only then).
func (g *Guard) decidedRaw(ctx context.Context, data []byte, parse func([]byte) *sipgosip.Request, id Identity, err error, reason string, code int) {
	if g.onDecision == nil || parse == nil {
		return
	}
	req := parse(data)
	if req == nil {
		return
	}
	req.SetSource(id.Source.String())
	req.SetTransport("UDP")
	g.onDecision(ctx, req, Decision{Identity: id, Err: err, Reason: reason, Code: code, InitialInvite: initialInvite(req)})
}

// logRaw logs a line about a request of the fast path with the attributes
// Check's lines carry, built only when the level is enabled.
func (g *Guard) logRaw(ctx context.Context, level slog.Level, r *rawRequest, src netip.AddrPort, tenant, msg string, args ...any) {
	if !g.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]any, 0, 8+len(args))
	attrs = append(attrs, "method", string(r.method), "source", src.String(), "call_id", string(r.callID))
	if tenant != "" {
		attrs = append(attrs, "tenant", tenant)
	}
	g.log.Log(ctx, level, msg, append(attrs, args...)...)
}

// destination is where sipgo sends the answer to r, received from src
// over UDP (RFC 3261 §18.2.2, RFC 3581 §4): the source address, at the
// top Via's rport when it has an empty one, else at its rport value, its
// sent-by port, or 5060.
func (r *rawRequest) destination(src netip.AddrPort) netip.AddrPort {
	port := uint16(sipgosip.DefaultUdpPort)
	switch {
	case r.rport == 0:
		port = src.Port()
	case r.rport > 0:
		port = uint16(r.rport)
	case r.port > 0:
		port = uint16(r.port)
	}
	return netip.AddrPortFrom(src.Addr(), port)
}

// appendRawAnswer appends to b the answer Check builds for r (from src,
// over UDP): the status line; the Via, From, To (with the Guard's tag),
// Call-ID and CSeq values as the request wrote them, compact names, the
// top Via given rport and received when it asked (RFC 3581); then, for a
// challenge (realm not empty), one challenge per offered algorithm that
// fits within GuardConfig.MaxAmplification times the request's size,
// at least one.
func (g *Guard) appendRawAnswer(b []byte, r *rawRequest, src netip.AddrPort, code int, reason, realm string) []byte {
	start := len(b)
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	b = append(b, "\r\n"...)
	for i, v := range r.vias[:r.nvia] {
		b = append(b, "v: "...)
		if i == 0 && r.rport == 0 {
			b = append(b, v[:r.rportEnd]...)
			b = append(b, '=')
			b = strconv.AppendUint(b, uint64(src.Port()), 10)
			b = append(b, v[r.rportEnd:r.topEnd]...)
			b = append(b, ";received="...)
			b = src.Addr().AppendTo(b)
			b = append(b, v[r.topEnd:]...)
		} else {
			b = append(b, v...)
		}
		b = append(b, "\r\n"...)
	}
	b = append(b, "f: "...)
	b = append(b, r.from...)
	b = append(b, "\r\nt: "...)
	b = append(b, r.to...)
	b = append(b, ";tag="...)
	b = appendTag(b, g.tags.prefix, r.callID, r.branch)
	b = append(b, "\r\ni: "...)
	b = append(b, r.callID...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, r.cseq...)
	b = append(b, "\r\nl: 0\r\n"...)
	if code == sipgosip.StatusServiceUnavailable {
		b = append(b, "Retry-After: "+tenantBusyRetryAfter+"\r\n"...)
	}
	if realm != "" {
		header := "Proxy-Authenticate: "
		if code == sipgosip.StatusUnauthorized {
			header = "WWW-Authenticate: "
		}
		budget := start + int(g.amplify*float64(r.size)) - len("\r\n")
		if g.amplify <= 0 {
			budget = int(^uint(0) >> 1)
		}
		var nonce [nonceEncodedLen]byte
		g.digest.appendNonce(nonce[:0], realm, src.Addr())
		for i, alg := range g.digest.algs {
			before := len(b)
			b = append(b, header...)
			b = appendChallenge(b, realm, nonce[:], false, alg)
			b = append(b, "\r\n"...)
			if i > 0 && len(b) > budget {
				b = b[:before]
				break
			}
		}
	}
	return append(b, "\r\n"...)
}

// appendTag appends the To tag the Guard gives its answer to a request of
// callID and top Via branch: the prefix, then the FNV-1a hash of both in
// hex (a retransmission gets the same tag, RFC 3261 §8.2.6.2).
func appendTag[T string | []byte](b []byte, prefix string, callID, branch T) []byte {
	b = append(b, prefix...)
	h := fnv32a(fnv32a(2166136261, callID), branch)
	const hexDigits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(h>>shift)&0xf])
	}
	return b
}

// fnv32a continues the FNV-1a hash h over p.
func fnv32a[T string | []byte](h uint32, p T) uint32 {
	for i := range len(p) {
		h ^= uint32(p[i])
		h *= 16777619
	}
	return h
}

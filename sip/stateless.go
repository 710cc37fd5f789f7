package sip

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"
)

// RespondStateless sends res on the connection of tx's request, outside
// the transaction: once, with no retransmission and no state kept for it
// (RFC 3261 §8.2.7, §17.2.1; what Kamailio's sl_send_reply does). Over UDP
// a final answer to an INVITE sent through tx.Respond is retransmitted
// until an ACK comes (timer G, up to 32 s: 11 copies to a client that
// never ACKs, such as an attacker spoofing its victim's address); sent
// this way it goes once, and a lost answer is sent again only when the
// client retransmits its request.
//
// Use it for answers that create no state (challenges, refusals, 481) and
// return from the handler right after: sipgo ends a transaction whose
// handler returns without a final answer, so later retransmissions of the
// request reach the handler again, as they would a stateless server. The
// Guard sends all its answers this way.
//
// tx must be sipgo's server transaction, or wrap it with a method
// Connection() sipgosip.Connection; any other tx gets res through
// tx.Respond.
func RespondStateless(tx sipgosip.ServerTransaction, res *sipgosip.Response) error {
	if c, ok := tx.(interface{ Connection() sipgosip.Connection }); ok {
		if conn := c.Connection(); conn != nil {
			return conn.WriteMsg(res)
		}
	}
	return tx.Respond(res)
}

// ErrStatelessACK is the error of Guard.Check for the ACK of an answer the
// Guard sent (RFC 3261 §17.1.1.3): it is dropped, neither answered nor
// passed to the handler, and never logged above Debug.
var ErrStatelessACK = errors.New("sip: ACK of an answer the Guard sent statelessly")

// statelessTags makes and recognises the To tags of the Guard's own
// answers, so their ACKs can be dropped before any other work: a random
// prefix per Guard, then a hash of the request's Call-ID and branch (a
// retransmitted request gets the same tag, RFC 3261 §8.2.6.2).
type statelessTags struct {
	prefix      string
	prefixBytes []byte
}

func newStatelessTags() statelessTags {
	var b [5]byte
	_, _ = rand.Read(b[:])
	prefix := "vg" + hex.EncodeToString(b[:]) + "."
	return statelessTags{prefix: prefix, prefixBytes: []byte(prefix)}
}

func (s statelessTags) tag(req *sipgosip.Request) string {
	var callID, branch string
	if c := req.CallID(); c != nil {
		callID = string(*c)
	}
	if v := req.Via(); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	var buf [32]byte
	return string(appendTag(buf[:0], s.prefix, callID, branch))
}

// mark gives res (an answer to req) the Guard's To tag, unless the request
// already had one (an in-dialog request keeps its dialog's tag).
func (s statelessTags) mark(req *sipgosip.Request, res *sipgosip.Response) {
	if to := req.To(); to == nil || to.Params.Has("tag") {
		return
	}
	if to := res.To(); to != nil {
		to.Params.Add("tag", s.tag(req))
	}
}

// ackOfOurs reports whether req is the ACK of an answer marked by s.
func (s statelessTags) ackOfOurs(req *sipgosip.Request) bool {
	if !req.IsAck() {
		return false
	}
	to := req.To()
	if to == nil {
		return false
	}
	tag, _ := to.Params.Get("tag")
	return strings.HasPrefix(tag, s.prefix)
}

// countWriter counts what is written to it.
type countWriter int

func (c *countWriter) WriteString(s string) (int, error) {
	*c += countWriter(len(s))
	return len(s), nil
}

// minWireSize estimates from below how many bytes req took on the wire:
// as sipgo writes it, less what the compact form ("v:value" for
// "Via: value") would save on each header line.
func minWireSize(req *sipgosip.Request) int {
	var c countWriter
	req.StartLineWrite(&c)
	n := int(c) + 2
	for _, h := range req.Headers() {
		c = 0
		h.StringWrite(&c)
		name := h.Name()
		n += int(c) - len(name) - 1 + len(compactName(name)) + 2
	}
	return n + 2 + len(req.Body())
}

// compactForms are the header names with a compact form (RFC 3261 §7.3.3
// and the extensions that define one).
var compactForms = [...]struct{ long, short string }{
	{"Via", "v"}, {"From", "f"}, {"To", "t"}, {"Call-ID", "i"}, {"Contact", "m"},
	{"Content-Length", "l"}, {"Content-Type", "c"}, {"Content-Encoding", "e"},
	{"Supported", "k"}, {"Subject", "s"}, {"Refer-To", "r"}, {"Referred-By", "b"},
	{"Event", "o"}, {"Allow-Events", "u"}, {"Accept-Contact", "a"}, {"Reject-Contact", "j"},
	{"Request-Disposition", "d"}, {"Session-Expires", "x"}, {"Identity", "y"},
}

// compactName is the compact form of a header name, or the name.
func compactName(name string) string {
	for _, f := range compactForms {
		if len(f.long) == len(name) && strings.EqualFold(f.long, name) {
			return f.short
		}
	}
	return name
}

// messageSize is how many bytes sipgo writes for res.
func messageSize(res *sipgosip.Response) int {
	var c countWriter
	res.StringWrite(&c)
	return int(c)
}

// fitAmplification cuts res towards factor × the size of req (an
// unreliable transport's reflection bound): it is written with compact
// header names, and a challenge keeps as many of its challenge headers as
// fit, in order, at least one. What an answer must carry (the copied
// headers, one challenge) is never cut: a request too small for it gets
// the smallest answer.
func fitAmplification(req *sipgosip.Request, res *sipgosip.Response, factor float64) *sipgosip.Response {
	res.CompactHeaders = true
	budget := int(factor * float64(minWireSize(req)))
	size := messageSize(res)
	if size <= budget {
		return res
	}
	name := ""
	switch res.StatusCode {
	case sipgosip.StatusUnauthorized:
		name = "WWW-Authenticate"
	case sipgosip.StatusProxyAuthRequired:
		name = "Proxy-Authenticate"
	default:
		return res
	}
	// drop challenges from the end until the answer fits, keeping one
	var chs []sipgosip.Header
	for _, h := range res.Headers() {
		if h.Name() == name {
			chs = append(chs, h)
		}
	}
	keep := len(chs)
	for keep > 1 && size > budget {
		keep--
		var c countWriter
		chs[keep].StringWrite(&c)
		size -= int(c) + 2
	}
	if keep < len(chs) {
		// RemoveHeader takes the first of a name: take them all, put back the kept
		for range chs {
			res.RemoveHeader(name)
		}
		for _, h := range chs[:keep] {
			res.AppendHeader(h)
		}
	}
	return res
}

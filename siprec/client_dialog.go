package siprec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// errTransaction reports a client transaction that ended without a final
// response (timer B/F, a broken connection).
var errTransaction = errors.New("no final response (transaction ended)")

// dialogHandler receives what a recording server does inside a dialog.
type dialogHandler interface {
	// answer returns the body (and its content type) of our answer to an
	// offer from the recording server (sdp nil: an offerless re-INVITE, so
	// our current offer), or a SIP error code.
	answer(offer []byte, contentType string) (body []byte, ctype string, code int)
	// acked delivers the SDP answer an ACK carried (offerless re-INVITE).
	acked(sdp []byte)
	// ended tells that the recording server hung up (BYE).
	ended()
}

// dialog is one SIPREC dialog from this client (UAC) to a recording server
// (RFC 3261 §12), over sipgo's transaction layer.
type dialog struct {
	c         *Client
	h         dialogHandler
	callID    string
	localTag  string
	from      *sip.FromHeader
	to        *sip.ToHeader // without tag
	reqURI    sip.Uri       // the initial Request-URI
	transport string        // sipgo's name: UDP, TCP, TLS
	dest      string        // where the initial INVITE goes, ip:port
	host      netip.Addr    // our address for Via and Contact
	contact   *sip.ContactHeader

	reqMu sync.Mutex // one client transaction at a time, in CSeq order

	mu         sync.Mutex
	remoteTag  string
	target     sip.Uri  // remote target: the 2xx's Contact
	routes     []string // route set: the 2xx's Record-Route, reversed
	cseq       uint32
	remoteCSeq uint32
	authName   string // Authorization or Proxy-Authorization, once challenged
	authChal   *digest.Challenge
	authCount  int
	confirmed  bool
	ended      bool
	offering   bool // our re-INVITE is pending: a re-INVITE from the server gets 491
}

func newDialog(c *Client, h dialogHandler, uri URI, t Target, host netip.Addr) (*dialog, error) {
	var req sip.Uri
	if err := sip.ParseUri(uri.String(), &req); err != nil {
		return nil, fmt.Errorf("siprec: %s: %w", uri, err)
	}
	d := &dialog{
		c:         c,
		h:         h,
		callID:    newCallID(),
		localTag:  sip.GenerateTagN(16),
		reqURI:    req,
		transport: sipTransport(t.Transport),
		dest:      t.Addr.String(),
		host:      host,
		cseq:      uint32(time.Now().UnixNano()&0x7fff) + 1,
	}
	d.from = &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.cfg.FromUser, Host: hostString(host)}}
	d.from.Params.Add("tag", d.localTag)
	toURI := req
	toURI.UriParams = nil
	toURI.Headers = nil
	d.to = &sip.ToHeader{Address: toURI}
	return d, nil
}

// newCallID returns a random Call-ID: 32 hex digits.
func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// hostString writes an address as a URI host (IPv6 bracketed).
func hostString(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

func (d *dialog) remoteTagValue() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTag
}

// contactHeader is our Contact: our listening port, the dialog's
// transport, and the +sip.src feature tag of RFC 7866 §6.1.1.
func (d *dialog) contactHeader() *sip.ContactHeader {
	d.mu.Lock()
	defer d.mu.Unlock()
	return sip.HeaderClone(d.contactLocked()).(*sip.ContactHeader)
}

// contactLocked is contactHeader with d.mu held.
func (d *dialog) contactLocked() *sip.ContactHeader {
	if d.contact == nil {
		u := sip.Uri{Scheme: "sip", User: d.c.cfg.FromUser, Host: hostString(d.host), Port: int(d.c.addr.Port())}
		if d.transport == "TLS" {
			u.Scheme = "sips" // RFC 3261 §12.1.2: a SIPS dialog has a SIPS Contact
		}
		if d.transport != "UDP" {
			u.UriParams = sip.NewParams()
			u.UriParams.Add("transport", strings.ToLower(d.transport))
		}
		d.contact = &sip.ContactHeader{Address: u, Params: sip.NewParams()}
		d.contact.Params.Add("+sip.src", "")
	}
	return d.contact
}

// newRequest builds a request of the dialog with the next CSeq (the
// initial INVITE too, before a remote tag is known).
func (d *dialog) newRequest(method sip.RequestMethod) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	target := d.reqURI
	if d.confirmed {
		target = d.target
	}
	req := sip.NewRequest(method, target)
	req.AppendHeader(d.via())
	req.AppendHeader(sip.HeaderClone(d.from))
	to := &sip.ToHeader{DisplayName: d.to.DisplayName, Address: *d.to.Address.Clone(), Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	if method != sip.ACK && method != sip.CANCEL {
		d.cseq++
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	if method == sip.INVITE || method == sip.UPDATE || method == sip.ACK {
		req.AppendHeader(sip.HeaderClone(d.contactLocked()))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", d.c.cfg.UserAgent))
	if d.authChal != nil && method != sip.ACK && method != sip.CANCEL {
		d.authCount++
		if cred, err := digest.Digest(d.authChal, digest.Options{
			Method: method.String(), URI: target.String(), Count: d.authCount,
			Username: d.c.cfg.Username, Password: d.c.cfg.Password.Reveal(),
		}); err == nil {
			req.AppendHeader(sip.NewHeader(d.authName, cred.String()))
		}
	}
	req.SetTransport(d.transport)
	if !d.confirmed || len(d.routes) == 0 && (d.target.Host == "" || d.sameHostAsInvite(d.target)) {
		req.SetDestination(d.dest)
	}
	return req
}

// sameHostAsInvite reports whether a remote target names the host and port
// of the initial Request-URI, which the client already resolved to d.dest
// (through Config.Resolver, which sipgo's own lookup would not consult: a
// recording server answering with its own name in Contact, as a
// multi-tenant one does, would be looked up again, or not found).
func (d *dialog) sameHostAsInvite(target sip.Uri) bool {
	return strings.EqualFold(target.Host, d.reqURI.Host) && target.Port == d.reqURI.Port
}

func (d *dialog) via() *sip.ViaHeader {
	v := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: d.transport,
		Host: hostString(d.host), Port: int(d.c.addr.Port()), Params: sip.NewParams()}
	v.Params.Add("branch", sip.GenerateBranchN(16))
	return v
}

// prepare moves a request that is too large for UDP to TCP (RFC 3261
// §18.1.1); the dialog keeps the transport its INVITE used.
func (d *dialog) prepare(req *sip.Request) {
	if req.Transport() != "UDP" || len(req.String()) <= udpLimit {
		return
	}
	d.mu.Lock()
	d.transport = "TCP"
	d.contact = nil
	d.mu.Unlock()
	req.SetTransport("TCP")
	req.Via().Transport = "TCP"
	req.ReplaceHeader(d.contactHeader())
}

// setBody sets the body and its Content-Type.
func setBody(req interface {
	AppendHeader(sip.Header)
	SetBody([]byte)
}, body []byte, ctype string) {
	if len(body) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
}

// result is the final outcome of one client transaction.
type result struct {
	res         *sip.Response
	tx          sip.ClientTransaction
	provisional bool
	err         error
}

// transact sends req and waits for its final response, ctx or the
// transaction's end.
func (d *dialog) transact(ctx context.Context, req *sip.Request) result {
	tx, err := d.c.sc.TransactionRequest(ctx, req, noBuild)
	if err != nil {
		return result{err: err}
	}
	r := result{tx: tx}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				r.provisional = r.provisional || res.StatusCode > 100
				continue
			}
			r.res = res
			return r
		case <-tx.Done():
			r.err = tx.Err()
			if r.err == nil {
				r.err = errTransaction
			}
			return r
		case <-ctx.Done():
			r.err = ctx.Err()
			return r
		}
	}
}

// challenged records the challenge of a 401/407 so that the request can be
// sent again with credentials, and reports whether it can.
func (d *dialog) challenged(res *sip.Response) bool {
	if d.c.cfg.Username == "" && d.c.cfg.Password.Reveal() == "" {
		return false
	}
	name, auth := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		name, auth = "Proxy-Authenticate", "Proxy-Authorization"
	} else if res.StatusCode != 401 {
		return false
	}
	for _, h := range res.GetHeaders(name) {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		chal.Algorithm = strings.ToUpper(chal.Algorithm)
		if !digest.CanDigest(chal) || chal.Algorithm == "SHA-512" {
			continue
		}
		d.mu.Lock()
		d.authName, d.authChal, d.authCount = auth, chal, 0
		d.mu.Unlock()
		return true
	}
	return false
}

// request runs one request of the dialog, answering up to two digest
// challenges (the second for a stale nonce); build makes the request and
// is called again for each attempt. ACK of a 2xx INVITE is sent here; ctx
// expiry of an initial INVITE cancels it.
func (d *dialog) request(ctx context.Context, build func() *sip.Request) (*sip.Response, error) {
	d.reqMu.Lock()
	defer d.reqMu.Unlock()
	for attempt := 0; ; attempt++ {
		req := build()
		d.prepare(req)
		if req.IsInvite() {
			d.mu.Lock()
			d.offering = d.confirmed
			d.mu.Unlock()
			defer func() {
				d.mu.Lock()
				d.offering = false
				d.mu.Unlock()
			}()
		}
		r := d.transact(ctx, req)
		if r.err != nil {
			if req.IsInvite() && r.tx != nil && ctx.Err() != nil {
				d.abandon(req, r)
			} else if r.tx != nil {
				r.tx.Terminate()
			}
			return nil, r.err
		}
		res := r.res
		if req.IsInvite() && res.IsSuccess() {
			if err := d.established(req, res); err != nil {
				r.tx.Terminate()
				return res, err
			}
			ack := d.ackFor(req)
			r.tx.OnRetransmission(func(rr *sip.Response) {
				if rr.IsSuccess() {
					_ = d.c.sc.WriteRequest(ack.Clone(), noBuild)
				}
			})
			if err := d.c.sc.WriteRequest(ack.Clone(), noBuild); err != nil {
				return res, fmt.Errorf("sending ACK: %w", err)
			}
			return res, nil
		}
		r.tx.Terminate()
		if attempt < 2 && (res.StatusCode == 401 || res.StatusCode == 407) && d.challenged(res) {
			continue
		}
		return res, nil
	}
}

// established takes the dialog state from the 2xx of an INVITE: the remote
// tag on the first, the remote target (a target refresh) on every one.
func (d *dialog) established(req *sip.Request, res *sip.Response) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	to := res.To()
	if to == nil {
		return errors.New("2xx without To")
	}
	tag := to.Params.GetOr("tag", "")
	if !d.confirmed {
		if tag == "" {
			return errors.New("2xx without a To tag")
		}
		d.remoteTag = tag
		hdrs := res.GetHeaders("Record-Route")
		d.routes = d.routes[:0]
		for i := len(hdrs) - 1; i >= 0; i-- {
			d.routes = append(d.routes, hdrs[i].Value())
		}
	}
	if ct := res.Contact(); ct != nil {
		d.target = *ct.Address.Clone()
	} else if !d.confirmed {
		d.target = req.Recipient
	}
	d.confirmed = true
	return nil
}

// ackFor builds the ACK of a 2xx to invite (RFC 3261 §13.2.2.4): the
// INVITE's CSeq number, a new branch, the dialog's route.
func (d *dialog) ackFor(invite *sip.Request) *sip.Request {
	ack := d.newRequest(sip.ACK)
	ack.CSeq().SeqNo = invite.CSeq().SeqNo
	ack.SetTransport(invite.Transport())
	ack.Via().Transport = invite.Transport()
	if len(d.routes) == 0 {
		ack.SetDestination(invite.Destination())
	}
	return ack
}

// abandon deals with an initial INVITE whose context ended before a final
// response: it sends CANCEL once a provisional response came (RFC 3261
// §9.1), and if the recording server accepts anyway it ACKs and hangs up.
// It runs in the background; the transaction ends by itself (timer B).
func (d *dialog) abandon(invite *sip.Request, r result) {
	d.c.background(func(done <-chan struct{}) {
		defer r.tx.Terminate()
		provisional := r.provisional
		cancelled := false
		timeout := time.NewTimer(64 * sip.T1)
		defer timeout.Stop()
		for {
			if provisional && !cancelled {
				cancelled = true
				cancel := cancelFor(invite)
				ctx, stop := d.c.waitCtx(context.Background())
				cr := d.transact(ctx, cancel)
				if cr.tx != nil {
					cr.tx.Terminate()
				}
				stop()
			}
			select {
			case res := <-r.tx.Responses():
				switch {
				case res.IsProvisional():
					provisional = provisional || res.StatusCode > 100
					continue
				case res.IsSuccess():
					d.c.log.Info("siprec client: recording server accepted a cancelled INVITE; hanging up", "call_id", d.callID)
					if d.established(invite, res) == nil {
						_ = d.c.sc.WriteRequest(d.ackFor(invite), noBuild)
						ctx, stop := d.c.waitCtx(context.Background())
						_, _ = d.request(ctx, func() *sip.Request { return d.newRequest(sip.BYE) })
						stop()
					}
				}
				d.c.unregister(d)
				return
			case <-r.tx.Done():
				d.c.unregister(d)
				return
			case <-timeout.C:
				d.c.unregister(d)
				return
			case <-done:
				return
			}
		}
	})
}

// cancelFor builds the CANCEL of invite (RFC 3261 §9.1): same Request-URI,
// top Via, From, To, Call-ID and CSeq number.
func cancelFor(invite *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, invite.Recipient)
	c.AppendHeader(sip.HeaderClone(invite.Via()))
	c.AppendHeader(sip.HeaderClone(invite.From()))
	c.AppendHeader(sip.HeaderClone(invite.To()))
	c.AppendHeader(sip.HeaderClone(invite.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	for _, h := range invite.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.SetTransport(invite.Transport())
	c.SetDestination(invite.Destination())
	c.SetBody(nil)
	return c
}

// bye ends the dialog from our side.
func (d *dialog) bye(ctx context.Context) (*sip.Response, error) {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return nil, nil
	}
	d.ended = true
	d.mu.Unlock()
	defer d.c.unregister(d)
	return d.request(ctx, func() *sip.Request {
		req := d.newRequest(sip.BYE)
		req.SetBody(nil)
		return req
	})
}

// reinvite sends a new offer in the dialog. On 491 (the server's own
// offer crossed ours) it tries once more after 2.1 to 4 s, as the owner of
// the Call-ID does (RFC 3261 §14.1), when ctx leaves the time.
func (d *dialog) reinvite(ctx context.Context, body []byte, ctype string) (*sip.Response, error) {
	build := func() *sip.Request {
		req := d.newRequest(sip.INVITE)
		req.AppendHeader(sip.NewHeader("Require", "siprec"))
		setBody(req, body, ctype)
		return req
	}
	res, err := d.request(ctx, build)
	if err != nil || res.StatusCode != 491 {
		return res, err
	}
	wait := 2100*time.Millisecond + time.Duration(mrand.Int64N(int64(1900*time.Millisecond)))
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+time.Second {
		return res, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return res, nil
	case <-t.C:
	}
	return d.request(ctx, build)
}

// isEnded reports whether the dialog has ended (BYE sent or received).
func (d *dialog) isEnded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ended
}

// checkCSeq applies RFC 3261 §12.2.2: a request with a CSeq lower than the
// last one from the remote side is out of order.
func (d *dialog) checkCSeq(req *sip.Request) bool {
	cs := req.CSeq()
	if cs == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.remoteCSeq != 0 && cs.SeqNo < d.remoteCSeq {
		return false
	}
	d.remoteCSeq = cs.SeqNo
	return true
}

// endedByRemote handles the recording server's BYE.
func (d *dialog) endedByRemote() {
	d.mu.Lock()
	was := d.ended
	d.ended = true
	d.mu.Unlock()
	d.c.unregister(d)
	if !was {
		d.h.ended()
	}
}

// onReInvite answers a re-INVITE from the recording server (a session
// refresh, a new offer, a request for a metadata snapshot) with the
// current SDP.
func (d *dialog) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	d.answerOffer(req, tx)
}

// onUpdate answers an UPDATE like a re-INVITE (RFC 3311), without ACK.
func (d *dialog) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	d.answerOffer(req, tx)
}

func (d *dialog) answerOffer(req *sip.Request, tx sip.ServerTransaction) {
	if !d.checkCSeq(req) {
		d.c.respond(req, tx, 500, "CSeq Out of Order", nil, sip.NewHeader("Retry-After", "1"))
		return
	}
	d.mu.Lock()
	glare := d.offering
	d.mu.Unlock()
	if glare { // RFC 3261 §14.2: our own offer is pending
		d.c.respond(req, tx, 491, "Request Pending", nil)
		return
	}
	if ct := req.Contact(); ct != nil && req.IsInvite() {
		d.mu.Lock()
		d.target = *ct.Address.Clone() // a target refresh (RFC 3261 §12.2.2)
		d.mu.Unlock()
	}
	ctype := ""
	if h := req.ContentType(); h != nil {
		ctype = h.Value()
	}
	body, rtype, code := d.h.answer(req.Body(), ctype)
	if code != 200 {
		d.c.respond(req, tx, code, reasonPhrase(code), nil)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(d.contactHeader())
	setBody(res, body, rtype)
	if err := tx.Respond(res); err != nil {
		d.c.log.Debug("siprec client: cannot answer re-INVITE", "call_id", d.callID, "error", err)
	}
}

// onAck takes the SDP answer of an offerless re-INVITE.
func (d *dialog) onAck(req *sip.Request) {
	if b := req.Body(); len(b) > 0 {
		d.h.acked(b)
	}
}

// onOptions answers an in-dialog OPTIONS with our capabilities and the
// current SDP (RFC 3261 §11.2).
func (d *dialog) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if !d.checkCSeq(req) {
		d.c.respond(req, tx, 500, "CSeq Out of Order", nil)
		return
	}
	body, ctype, _ := d.h.answer(nil, "")
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Accept", ContentTypeSDP))
	res.AppendHeader(sip.NewHeader("Supported", "siprec"))
	res.AppendHeader(d.contactHeader())
	setBody(res, body, ctype)
	_ = tx.Respond(res)
}

func reasonPhrase(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 415:
		return "Unsupported Media Type"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	}
	return "Error " + strconv.Itoa(code)
}

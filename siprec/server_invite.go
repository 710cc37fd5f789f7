package siprec

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/uuid"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// Errors answered 400 that callers need not match: a metadata label
// mismatch refused under Config.StrictLabels, and requests SIP itself
// forbids (an INVITE without Contact).
var (
	errLabels     = errors.New("siprec: metadata and SDP labels disagree")
	errBadRequest = errors.New("siprec: bad request")
)

// placeholderPort is the port of accepted lines in the draft answer made
// before the Policy is asked; the real ports replace it.
const placeholderPort = 9

// invite handles an initial INVITE, in steps: check it (checkInvite),
// ask the Policy (admit), set up the session's media (setupMedia), make its
// sink (attachSink), answer and wait for the ACK (answer). A CANCEL may come
// at any step until the answer is sent: the steps after it are skipped and
// what was set up is undone. Every refusal is reported to Config.OnReject.
func (s *Server) invite(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	received := s.now()
	// Only the markers make an INVITE SIPREC (RFC 7866 §6.1): an unmarked
	// INVITE goes to Next, whatever its body (a multipart body with
	// metadata included), so an ordinary call is never taken for a
	// recording session.
	if !markedSIPREC(req) {
		s.notSIPREC(ctx, req, tx)
		return
	}
	if bad := unsupported(req); len(bad) > 0 {
		s.peerLog.Info("siprec: request rejected", "method", "INVITE", "call_id", callID(req), "code", 420, "unsupported", bad)
		s.respond(tx, req, 420, "", nil, sipgosip.NewHeader("Unsupported", strings.Join(bad, ", ")))
		s.rejected(ctx, req, 420, RejectBadExtension)
		return
	}
	if !s.enter() {
		s.refuse(ctx, tx, req, ErrServerClosed, "")
		return
	}
	defer s.track(-1)
	o, answer, err := s.checkInvite(req)
	if err != nil {
		s.refuse(ctx, tx, req, err, "")
		return
	}

	// From here a CANCEL ends the Policy's and the sink constructor's ctx.
	var canceled atomic.Bool
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !tx.OnCancel(func(*sipgosip.Request) { canceled.Store(true); cancel() }) {
		// canceled or terminated already: sipgo answered, if anyone
		if errors.Is(tx.Err(), sipgosip.ErrTransactionCanceled) {
			s.rejected(ctx, req, 487, RejectCancelled)
		}
		return
	}
	gotCancel := func() bool {
		if !canceled.Load() {
			return false
		}
		s.log.Info("siprec: INVITE canceled", "call_id", o.CallID)
		s.rejected(ctx, req, 487, RejectCancelled)
		return true
	}
	adm, err := s.admit(pctx, o)
	if err != nil {
		if !gotCancel() {
			s.refuse(ctx, tx, req, err, RejectPolicy)
		}
		return
	}
	if gotCancel() {
		adm.Release()
		return
	}
	if err := checkRequired(adm.RequireSRTP, o.SDP, answer); err != nil {
		adm.Release()
		s.refuse(ctx, tx, req, err, "")
		return
	}

	sess := s.newSession(req, o, adm.Release, received)
	sess.requireSRTP = adm.RequireSRTP || s.cfg.SRTP.Require
	sess.identity, sess.hasIdentity = sip.IdentityFrom(ctx)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if err := s.setupMedia(sess, o.SDP, answer); err != nil {
		s.refuse(ctx, tx, req, err, "")
		return
	}
	if err := s.attachSink(pctx, sess, adm.Sink); err != nil {
		sess.endLocked(EndError)
		if !gotCancel() {
			s.refuse(ctx, tx, req, err, RejectSink)
		}
		return
	}
	s.answer(ctx, sess, tx, gotCancel)
}

// checkInvite parses and checks a SIPREC INVITE: its body (metadata and
// SDP both required), Contact, SDP and stream limit, and answers the offer
// once with a placeholder port, which says whether any line is usable (488)
// before the Policy is asked and ports are taken. It returns the Offer and
// that draft answer; an error is answered as responseFor maps it.
func (s *Server) checkInvite(req *sipgosip.Request) (*Offer, *media.SessionDescription, error) {
	body, err := ParseBody(contentType(req), req.Body(), &BodyOptions{MaxMetadataSize: s.cfg.MaxMetadataSize})
	if err != nil {
		return nil, nil, err
	}
	if body.Metadata == nil {
		return nil, nil, fmt.Errorf("%w: the INVITE is marked as SIPREC but has no %s part", ErrNoMetadata, ContentTypeMetadata)
	}
	if body.SDP == nil {
		return nil, nil, fmt.Errorf("%w: a recording server needs the offer in the INVITE", ErrNoSDP)
	}
	if req.Contact() == nil {
		return nil, nil, fmt.Errorf("%w: the INVITE has no Contact header", errBadRequest)
	}
	offer, err := media.ParseSDP(body.SDP)
	if err != nil {
		return nil, nil, err
	}
	if n := len(offer.Media); n > s.cfg.MaxStreams {
		return nil, nil, fmt.Errorf("%w: the offer has %d m-lines, the limit is %d", ErrTooManyStreams, n, s.cfg.MaxStreams)
	}
	if err := s.checkSDESTransport(req, offer); err != nil {
		return nil, nil, err
	}
	origin := media.Origin{Username: "-", SessionID: randomSessionID(), SessionVersion: 1}
	answer, err := media.Answer(offer, media.AnswerConfig{
		Address:   netip.IPv4Unspecified(),
		Origin:    origin,
		Codecs:    s.cfg.Codecs,
		Direction: media.RecvOnly,
		Port:      func(int, *media.Media) (int, error) { return placeholderPort, nil },
		SDES:      s.sdes(),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := checkRequired(s.cfg.SRTP.Require, offer, answer); err != nil {
		return nil, nil, err
	}
	md := body.Metadata
	if err := md.CheckLabels(offeredLabels(offer)); err != nil {
		if s.cfg.StrictLabels {
			return nil, nil, fmt.Errorf("%w: %w", errLabels, err)
		}
		s.peerLog.Warn("siprec: metadata and SDP labels disagree", "call_id", callID(req), "error", err)
	}
	return &Offer{
		Request:     req,
		CallID:      callID(req),
		Source:      sip.SourceOf(req),
		SDP:         offer,
		Metadata:    md,
		RecordingID: recordingIDOf(req, md.RecordingID()),
		Secure:      secureTransport(req),
	}, answer, nil
}

// admit asks the Policy (none admits all). The Admission it returns has a
// Release that is safe to call more than once.
func (s *Server) admit(ctx context.Context, o *Offer) (Admission, error) {
	var adm Admission
	if s.cfg.Policy != nil {
		var err error
		if adm, err = s.cfg.Policy.Admit(ctx, o); err != nil {
			return Admission{}, err
		}
	}
	if adm.Release == nil {
		adm.Release = func() {}
	}
	adm.Release = sync.OnceFunc(adm.Release)
	return adm, nil
}

// setupMedia takes an RTP port for each accepted m-line of the draft
// answer, makes each stream and its receiver (which owns the port from
// then on), and writes the answer's address and body into sess. On error
// what it took is given back (sess ended, or its Admission released when
// no stream was made yet). sess.mu is held.
func (s *Server) setupMedia(sess *Session, offer, answer *media.SessionDescription) error {
	eps := make([]*media.Endpoint, len(answer.Media))
	closeFrom := func(i int) {
		for _, e := range eps[i:] {
			if e != nil {
				_ = e.Close()
			}
		}
	}
	for i := range answer.Media {
		if answer.Media[i].Rejected() {
			continue
		}
		ep, err := s.ports.Allocate()
		if err != nil {
			closeFrom(0)
			sess.release()
			return fmt.Errorf("siprec: port for m-line %d (label %q): %w", i, answer.Media[i].Label, err)
		}
		eps[i] = ep
		answer.Media[i].Port = ep.Port()
	}
	addr := s.mediaAddress(sess.invite, eps)
	if !addr.IsValid() {
		closeFrom(0)
		sess.release()
		return errors.New("siprec: no media address: set Config.MediaAddress (the RTP ports are bound to every address and the Request-URI host is not an IP address)")
	}
	setAddress(answer, addr)
	sess.mediaAddr = addr
	sess.origin = answer.Origin
	sess.streams = make([]*Stream, len(answer.Media))
	for i := range answer.Media {
		if eps[i] == nil {
			continue
		}
		st, err := s.newStream(sess, i, &answer.Media[i], &offer.Media[i], eps[i])
		if err != nil {
			closeFrom(i)
			sess.endLocked(EndError)
			return err
		}
		sess.streams[i] = st
	}
	sess.paused = allPaused(sess.streams)
	var err error
	if sess.answerBody, err = answer.Marshal(); err != nil {
		sess.endLocked(EndError)
		return err
	}
	return nil
}

// attachSink makes the session's sink (the Admission's constructor, else
// Config.Sinks, else a NopSink) and gives it the streams. ctx ends with a
// CANCEL. sess.mu is held.
func (s *Server) attachSink(ctx context.Context, sess *Session, newSink func(context.Context, *Session) (SessionSink, error)) error {
	if newSink == nil && s.cfg.Sinks != nil {
		newSink = s.cfg.Sinks.NewSession
	}
	var sink SessionSink = NopSink{}
	if newSink != nil {
		var err error
		if sink, err = newSink(ctx, sess); err != nil {
			return err
		}
		if sink == nil {
			sink = NopSink{}
		}
	}
	sess.sink = sink
	for _, st := range sess.streams {
		if st != nil {
			st.setHandler(sink.AddStream(st))
		}
	}
	return nil
}

// answer registers the session's dialog, starts its streams and sends the
// 2xx, then leaves the wait for the ACK (await2xx) and the media timeout
// to goroutines. gotCancel reports (and logs) a CANCEL that came. sess.mu
// is held.
func (s *Server) answer(ctx context.Context, sess *Session, tx sipgosip.ServerTransaction, gotCancel func() bool) {
	req := sess.invite
	if err := s.add(sess); err != nil {
		sess.endLocked(EndShutdown)
		s.refuse(ctx, tx, req, err, "")
		return
	}
	for _, st := range sess.streams {
		if st != nil {
			s.run(sess, st)
		}
	}
	if gotCancel() {
		sess.endLocked(EndCancel)
		return
	}
	res := s.answerResponse(sess, req, sess.answerBody)
	if err := fitsUDP(sess.transport, res); err != nil {
		sess.endLocked(EndError)
		s.refuse(ctx, tx, req, err, "")
		return
	}
	p := sess.expectAck(cseq(req))
	if err := tx.Respond(res); err != nil {
		reason := EndError
		switch {
		case gotCancel():
			reason = EndCancel
		case errors.Is(err, sipgosip.ErrTransactionCanceled):
			reason = EndCancel
			s.rejected(ctx, req, 487, RejectCancelled)
		}
		s.log.Info("siprec: answer not sent", "call_id", sess.callID, "session", sess.id, "error", err)
		sess.endLocked(reason)
		return
	}
	sess.established = true
	sess.touch()
	s.log.Info("siprec: session started", "session", sess.id, "call_id", sess.callID,
		"streams", len(sess.Streams()), "paused", sess.paused, "recording_id", sess.recordingID,
		"transport", sess.transport, "source", sess.source, "srtp", srtpSuites(sess.Streams()))
	s.goroutine(func() { s.await2xx(sess, tx, res, p) })
	if s.cfg.MediaTimeout > 0 {
		s.goroutine(func() { s.watchMedia(sess) })
	}
}

// notSIPREC passes an INVITE that is not SIPREC to Config.Next, or answers
// 421 Extension Required (RFC 3261 §21.4.16).
func (s *Server) notSIPREC(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	if s.cfg.Next != nil {
		s.cfg.Next(ctx, req, tx)
		return
	}
	s.respond(tx, req, 421, "", nil, sipgosip.NewHeader("Require", "siprec"))
	s.rejected(ctx, req, 421, RejectNotSIPREC)
}

// newSession makes the Session of an admitted INVITE.
func (s *Server) newSession(req *sipgosip.Request, o *Offer, release func(), received time.Time) *Session {
	sess := &Session{
		srv:          s,
		id:           uuid.New(),
		callID:       o.CallID,
		start:        received,
		invite:       req,
		transport:    strings.ToUpper(req.Transport()),
		source:       o.Source,
		localTag:     newTag(),
		remoteTag:    fromTag(req),
		state:        metadata.NewState(o.Metadata),
		release:      release,
		done:         make(chan struct{}),
		remoteCSeq:   cseq(req),
		remoteTarget: *req.Contact().Address.Clone(),
		recordingID:  o.RecordingID,
	}
	sess.key = dialogID{callID: sess.callID, local: sess.localTag, remote: sess.remoteTag}
	for _, h := range req.GetHeaders("Record-Route") {
		sess.routeSet = append(sess.routeSet, h.Value())
	}
	sess.contact = s.contactHeader(req)
	return sess
}

// newStream makes the Stream of accepted m-line i and its Receiver, which
// takes ep over.
func (s *Server) newStream(sess *Session, i int, answered, offered *media.Media, ep *media.Endpoint) (*Stream, error) {
	st := &Stream{
		session:   sess,
		index:     i,
		label:     answered.Label,
		ep:        ep,
		remote:    offered.RTPAddr(),
		codecs:    answered.Codecs,
		direction: answered.Direction,
	}
	st.paused.Store(!answered.Direction.Receives())
	srtp, err := s.streamSRTP(answered, offered)
	if err != nil {
		return nil, fmt.Errorf("siprec: SRTP for m-line %d (label %q): %w", i, st.label, err)
	}
	st.srtp, st.protocol = srtp, answered.Protocol
	if len(answered.Crypto) == 1 {
		st.answerCrypto = answered.Crypto[0]
	}
	rc := s.cfg.Receiver
	rc.SRTP = srtp // one context per stream: never in the shared template
	rc.Handler = gate{st}
	rc.Codecs = answered.Codecs
	rc.Logger = s.log.With("session", sess.id, "label", st.label)
	rc.Remote, rc.Signalling = st.remote, sess.source.Addr() // only the offer's sender latches (Config.Latching)
	rx, err := media.NewReceiver(ep, rc)
	if err != nil {
		return nil, fmt.Errorf("siprec: receiver for m-line %d (label %q): %w", i, st.label, err)
	}
	st.rx = rx
	return st, nil
}

// run starts a stream's receiver and returns once it reads its socket
// (with a Poller: registered with a worker and, when steering, its port
// steered), so that the answer giving the port is sent after that: RTP the
// client sends as soon as it has the answer is read from the first packet,
// not left in a socket nothing reads yet (which a late registration let
// overflow, and whose packets were read after later ones), or once
// Config.ReadyTimeout has passed (a worker held up by a slow Handler). A
// socket failure ends the session.
func (s *Server) run(sess *Session, st *Stream) {
	sess.runs.Add(1)
	ready := make(chan struct{})
	s.goroutine(func() {
		defer sess.runs.Done()
		if err := st.rx.RunReady(context.Background(), func() { close(ready) }); err != nil && !errors.Is(err, media.ErrClosed) {
			s.log.Warn("siprec: RTP receive failed", "session", sess.id, "label", st.label, "error", err)
			s.goroutine(func() {
				if sess.end(EndMediaError) {
					s.byeInBackground(sess)
				}
			})
		}
	})
	t := time.NewTimer(s.readyWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
		s.log.Warn("siprec: answering before the stream's socket is read (its Poller worker is held up)", "session", sess.id, "label", st.label, "waited", s.readyWait)
	}
}

// mediaAddress returns the address of the answer's c= line.
func (s *Server) mediaAddress(req *sipgosip.Request, eps []*media.Endpoint) netip.Addr {
	if s.cfg.MediaAddress.IsValid() {
		return s.cfg.MediaAddress
	}
	for _, ep := range eps {
		if ep != nil {
			if a := ep.LocalAddr().Addr(); !a.IsUnspecified() {
				return a.Unmap()
			}
			break
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(req.Recipient.Host, "[]")); err == nil && !a.IsUnspecified() {
		return a.Unmap()
	}
	return netip.Addr{}
}

// setAddress puts addr on the answer's c= lines and origin.
func setAddress(d *media.SessionDescription, addr netip.Addr) {
	d.Address = addr
	d.Origin.Address = addr.String()
	for i := range d.Media {
		d.Media[i].Address = addr
	}
}

// contactHeader returns the Contact of the Server's answers to req.
func (s *Server) contactHeader(req *sipgosip.Request) sipgosip.ContactHeader {
	uri := s.cfg.Contact
	if uri.Host == "" {
		uri = sipgosip.Uri{
			Scheme: req.Recipient.Scheme,
			User:   "srs",
			Host:   req.Recipient.Host,
			Port:   req.Recipient.Port,
		}
		if uri.Scheme == "" {
			uri.Scheme = "sip"
		}
		if secureTransport(req) {
			// RFC 3261 §12.1.1: the Contact of a dialog set up over TLS
			// is a SIPS URI, so the client's in-dialog requests (and
			// our BYE's route back) stay on TLS.
			uri.Scheme = "sips"
		}
		if tp := strings.ToLower(req.Transport()); tp != "" && tp != "udp" {
			uri.UriParams = sipgosip.NewParams()
			uri.UriParams.Add("transport", tp)
		}
	} else {
		uri = *uri.Clone()
	}
	params := sipgosip.NewParams()
	params.Add("+sip.srs", "")
	return sipgosip.ContactHeader{Address: uri, Params: params}
}

// answerResponse builds a 200 to an INVITE, re-INVITE or UPDATE of sess,
// with body as application/sdp when there is one.
func (s *Server) answerResponse(sess *Session, req *sipgosip.Request, body []byte) *sipgosip.Response {
	res := sipgosip.NewResponseFromRequest(req, 200, "OK", body)
	if to := res.To(); to != nil {
		to.Params.Add("tag", sess.localTag)
	}
	contact := sess.contact
	contact.Params = contact.Params.Clone()
	res.AppendHeader(&contact)
	res.AppendHeader(sipgosip.NewHeader("Allow", allowValue))
	res.AppendHeader(sipgosip.NewHeader("Supported", "siprec"))
	if len(body) > 0 {
		res.AppendHeader(sipgosip.NewHeader("Content-Type", ContentTypeSDP))
	}
	return res
}

// offeredLabels returns the a=label values of an offer's m-lines.
func offeredLabels(d *media.SessionDescription) []string {
	out := make([]string, 0, len(d.Media))
	for i := range d.Media {
		if l := d.Media[i].Label; l != "" {
			out = append(out, l)
		}
	}
	return out
}

// allPaused reports whether no stream is being recorded.
func allPaused(streams []*Stream) bool {
	for _, st := range streams {
		if st != nil && !st.paused.Load() {
			return false
		}
	}
	return true
}

// fitsUDP checks a response against sipgo's UDP write limit, which would
// otherwise drop it silently (the client would retransmit its INVITE for
// 32 s).
func fitsUDP(transport string, res *sipgosip.Response) error {
	if transport != "UDP" {
		return nil
	}
	limit := sipgosip.UDPMTUSize - 200
	if n := len(res.String()); n > limit {
		return fmt.Errorf("%w: %d bytes, the limit is %d: use TCP", ErrAnswerTooLarge, n, limit)
	}
	return nil
}

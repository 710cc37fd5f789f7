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

// invite handles an initial INVITE.
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
	body, err := ParseBody(contentType(req), req.Body(), &BodyOptions{MaxMetadataSize: s.cfg.MaxMetadataSize})
	if bad := unsupported(req); len(bad) > 0 {
		s.log.Info("siprec: request rejected", "method", "INVITE", "call_id", callID(req), "code", 420, "unsupported", bad)
		s.respond(tx, req, 420, "", nil, sipgosip.NewHeader("Unsupported", strings.Join(bad, ", ")))
		return
	}
	if !s.enter() {
		s.reject(tx, req, ErrServerClosed)
		return
	}
	defer s.track(-1)
	if err == nil && body.Metadata == nil {
		err = fmt.Errorf("%w: the INVITE is marked as SIPREC but has no %s part", ErrNoMetadata, ContentTypeMetadata)
	}
	if err == nil && body.SDP == nil {
		err = fmt.Errorf("%w: a recording server needs the offer in the INVITE", ErrNoSDP)
	}
	if err != nil {
		s.reject(tx, req, err)
		return
	}
	if req.Contact() == nil {
		s.reject(tx, req, fmt.Errorf("%w: the INVITE has no Contact header", errBadRequest))
		return
	}
	offer, err := media.ParseSDP(body.SDP)
	if err != nil {
		s.reject(tx, req, err)
		return
	}
	if n := len(offer.Media); n > s.cfg.MaxStreams {
		s.reject(tx, req, fmt.Errorf("%w: the offer has %d m-lines, the limit is %d", ErrTooManyStreams, n, s.cfg.MaxStreams))
		return
	}
	// Answer once with a placeholder port: it says whether any line is
	// usable (488) before the Policy is asked and ports are taken.
	origin := media.Origin{Username: "-", SessionID: randomSessionID(), SessionVersion: 1}
	answer, err := media.Answer(offer, media.AnswerConfig{
		Address:   netip.IPv4Unspecified(),
		Origin:    origin,
		Codecs:    s.cfg.Codecs,
		Direction: media.RecvOnly,
		Port:      func(int, *media.Media) (int, error) { return placeholderPort, nil },
	})
	if err != nil {
		s.reject(tx, req, err)
		return
	}
	md := body.Metadata
	if err := md.CheckLabels(offeredLabels(offer)); err != nil {
		if s.cfg.StrictLabels {
			s.reject(tx, req, fmt.Errorf("%w: %w", errLabels, err))
			return
		}
		s.log.Warn("siprec: metadata and SDP labels disagree", "call_id", callID(req), "error", err)
	}

	// The Policy. Its ctx ends with a CANCEL.
	var canceled atomic.Bool
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !tx.OnCancel(func(*sipgosip.Request) { canceled.Store(true); cancel() }) {
		return // canceled or terminated already: sipgo answered
	}
	o := &Offer{
		Request:     req,
		CallID:      callID(req),
		Source:      sourceAddr(req),
		SDP:         offer,
		Metadata:    md,
		RecordingID: recordingIDOf(req, md.RecordingID()),
	}
	var adm Admission
	if s.cfg.Policy != nil {
		adm, err = s.cfg.Policy.Admit(pctx, o)
		if err != nil {
			if canceled.Load() {
				s.log.Info("siprec: INVITE canceled", "call_id", o.CallID)
				return
			}
			s.reject(tx, req, err)
			return
		}
	}
	release := adm.Release
	if release == nil {
		release = func() {}
	}
	release = sync.OnceFunc(release)
	if canceled.Load() {
		release()
		return
	}

	sess := s.newSession(req, o, adm.Value, release, received)
	sess.identity, sess.hasIdentity = sip.IdentityFrom(ctx)
	sess.mu.Lock()
	defer sess.mu.Unlock()

	// Ports, then the streams' receivers, which own them from then on.
	eps := make([]*media.Endpoint, len(answer.Media))
	for i := range answer.Media {
		if answer.Media[i].Rejected() {
			continue
		}
		ep, err := s.ports.Allocate()
		if err != nil {
			for _, e := range eps {
				if e != nil {
					_ = e.Close()
				}
			}
			release()
			s.reject(tx, req, fmt.Errorf("siprec: port for m-line %d (label %q): %w", i, answer.Media[i].Label, err))
			return
		}
		eps[i] = ep
		answer.Media[i].Port = ep.Port()
	}
	addr := s.mediaAddress(req, eps)
	if !addr.IsValid() {
		for _, e := range eps {
			if e != nil {
				_ = e.Close()
			}
		}
		release()
		s.reject(tx, req, errors.New("siprec: no media address: set Config.MediaAddress (the RTP ports are bound to every address and the Request-URI host is not an IP address)"))
		return
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
			for _, e := range eps[i:] {
				if e != nil {
					_ = e.Close()
				}
			}
			sess.endLocked(EndError)
			s.reject(tx, req, err)
			return
		}
		sess.streams[i] = st
	}
	sess.paused = allPaused(sess.streams)
	sess.answerBody, err = answer.Marshal()
	if err != nil {
		sess.endLocked(EndError)
		s.reject(tx, req, err)
		return
	}

	// The sink.
	var sink SessionSink = NopSink{}
	if s.cfg.Sinks != nil {
		sink, err = s.cfg.Sinks.NewSession(pctx, sess)
		if err != nil {
			sess.endLocked(EndError)
			if canceled.Load() {
				return
			}
			s.reject(tx, req, err)
			return
		}
		if sink == nil {
			sink = NopSink{}
		}
	}
	sess.sink = sink
	for _, st := range sess.streams {
		if st != nil {
			st.handler = sink.AddStream(st)
		}
	}

	if err := s.add(sess); err != nil {
		sess.endLocked(EndShutdown)
		s.reject(tx, req, err)
		return
	}
	for _, st := range sess.streams {
		if st != nil {
			s.run(sess, st)
		}
	}
	if canceled.Load() {
		sess.endLocked(EndCancel)
		return
	}
	res := s.answerResponse(sess, req, sess.answerBody)
	if err := fitsUDP(sess.transport, res); err != nil {
		sess.endLocked(EndError)
		s.reject(tx, req, err)
		return
	}
	p := sess.expectAck(cseq(req))
	if err := tx.Respond(res); err != nil {
		reason := EndError
		if canceled.Load() || errors.Is(err, sipgosip.ErrTransactionCanceled) {
			reason = EndCancel
		}
		s.log.Info("siprec: answer not sent", "call_id", sess.callID, "session", sess.id, "error", err)
		sess.endLocked(reason)
		return
	}
	sess.established = true
	sess.touch()
	s.log.Info("siprec: session started", "session", sess.id, "call_id", sess.callID,
		"streams", len(sess.Streams()), "paused", sess.paused, "recording_id", sess.recordingID,
		"transport", sess.transport, "source", sess.source)
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
}

// newSession makes the Session of an admitted INVITE.
func (s *Server) newSession(req *sipgosip.Request, o *Offer, value any, release func(), received time.Time) *Session {
	sess := &Session{
		srv:          s,
		id:           newSessionID(),
		callID:       o.CallID,
		start:        received,
		invite:       req,
		value:        value,
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
	sess.key = dialogKey(sess.callID, sess.localTag, sess.remoteTag)
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
	rc := s.cfg.Receiver
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

// run starts a stream's receiver. A socket failure ends the session.
func (s *Server) run(sess *Session, st *Stream) {
	sess.runs.Add(1)
	s.goroutine(func() {
		defer sess.runs.Done()
		if err := st.rx.Run(context.Background()); err != nil && !errors.Is(err, media.ErrClosed) {
			s.log.Warn("siprec: RTP receive failed", "session", sess.id, "label", st.label, "error", err)
			s.goroutine(func() {
				if sess.end(EndMediaError) {
					s.byeInBackground(sess)
				}
			})
		}
	})
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

package siprec

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// pending2xx is a 2xx answer to an INVITE or re-INVITE waiting for its ACK.
type pending2xx struct {
	cseq  uint32
	acked chan struct{}
}

// expectAck records that the 2xx to the INVITE with CSeq n waits for its
// ACK. A newer one replaces an older one.
func (sess *Session) expectAck(n uint32) *pending2xx {
	p := &pending2xx{cseq: n, acked: make(chan struct{})}
	sess.info.Lock()
	defer sess.info.Unlock()
	if sess.pending != nil {
		close(sess.pending.acked)
	}
	sess.pending = p
	return p
}

// ack takes an ACK of the dialog.
func (sess *Session) ack(req *sipgosip.Request) {
	sess.info.Lock()
	defer sess.info.Unlock()
	if p := sess.pending; p != nil && p.cseq == cseq(req) {
		close(p.acked)
		sess.pending = nil
	}
}

// settle waits until the session's setup is over and its last 2xx has its
// ACK (or the ACK timeout, or ctx, ends the wait): what RFC 3261 §15 asks
// before a BYE.
func (sess *Session) settle(ctx context.Context) {
	sess.mu.Lock() // held by a setup or re-offer under way: wait for it
	sess.info.RLock()
	p := sess.pending
	sess.info.RUnlock()
	sess.mu.Unlock()
	if p == nil {
		return
	}
	t := time.NewTimer(sess.srv.ackWait)
	defer t.Stop()
	select {
	case <-p.acked:
	case <-sess.done:
	case <-ctx.Done():
	case <-t.C:
	}
}

// touch records offer/answer activity, which the media timeout counts as
// activity.
func (sess *Session) touch() {
	sess.info.Lock()
	sess.lastActive = time.Now()
	sess.info.Unlock()
}

// await2xx retransmits a 2xx over UDP until its ACK comes (RFC 3261
// §13.3.1.4, RFC 6026: the transaction user's job), and ends the session
// with a BYE when none came within Config.AckTimeout.
func (s *Server) await2xx(sess *Session, tx sipgosip.ServerTransaction, res *sipgosip.Response, p *pending2xx) {
	deadline := time.NewTimer(s.ackWait)
	defer deadline.Stop()
	var retransmit <-chan time.Time
	interval := sipgosip.T1
	var timer *time.Timer
	if !sipgosip.IsReliable(sess.transport) {
		timer = time.NewTimer(interval)
		defer timer.Stop()
		retransmit = timer.C
	}
	for {
		select {
		case <-p.acked:
			return
		case <-tx.Acks(): // an ACK that matched the INVITE transaction itself
			sess.info.Lock()
			if sess.pending == p {
				close(p.acked)
				sess.pending = nil
			}
			sess.info.Unlock()
			return
		case <-sess.done:
			return
		case <-retransmit:
			if err := tx.Respond(res); err != nil {
				retransmit = nil // the transaction is gone; wait for the deadline
				continue
			}
			interval = min(2*interval, sipgosip.T2)
			timer.Reset(interval)
		case <-deadline.C:
			s.log.Warn("siprec: no ACK for the 2xx answer", "session", sess.id, "call_id", sess.callID, "cseq", p.cseq)
			if sess.end(EndNoAck) {
				s.byeInBackground(sess)
			}
			return
		}
	}
}

// watchMedia ends a session that received no RTP for Config.MediaTimeout
// while not paused.
func (s *Server) watchMedia(sess *Session) {
	limit := s.cfg.MediaTimeout
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case <-sess.done:
			return
		case <-t.C:
			wait := limit - time.Since(sess.lastActivity())
			if wait > 0 {
				t.Reset(wait)
				continue
			}
			s.log.Warn("siprec: no RTP", "session", sess.id, "call_id", sess.callID, "for", limit)
			if sess.end(EndMediaTimeout) {
				s.byeInBackground(sess)
			}
			return
		}
	}
}

// lastActivity returns when the session last showed life: RTP on a stream,
// an offer/answer, or now when it is paused (no RTP is expected then).
func (sess *Session) lastActivity() time.Time {
	sess.info.RLock()
	last, paused, streams := sess.lastActive, sess.paused, sess.streams
	sess.info.RUnlock()
	if paused {
		return time.Now()
	}
	for _, st := range streams {
		if st != nil {
			if a := st.rx.Stats().LastArrival; a.After(last) {
				last = a
			}
		}
	}
	return last
}

// bye handles the client's BYE: the end of the session, then 200.
func (s *Server) bye(sess *Session, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	// The session ends first, so a shutdown racing the BYE cannot report
	// the client's hang-up as EndShutdown: the 200 then confirms an end
	// that the sink has already been told.
	sess.end(EndBye)
	s.respond(tx, req, 200, "", nil)
}

// end ends the session: its receivers stop (delivering what they hold),
// the sink gets End, the Admission is released. It reports whether this
// call ended an established session, which then wants a BYE.
func (sess *Session) end(reason EndReason) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.endLocked(reason)
}

func (sess *Session) endLocked(reason EndReason) bool {
	if sess.ended {
		return false
	}
	srv := sess.srv
	at := srv.now()
	sess.ended = true
	close(sess.done)
	srv.remove(sess)
	sess.info.RLock()
	streams := sess.streams
	sess.info.RUnlock()
	for _, st := range streams {
		if st != nil {
			_ = st.rx.Close()
		}
	}
	sess.runs.Wait()
	if sess.sink != nil {
		sess.sink.End(reason, at)
	}
	sess.release()
	if sess.established {
		srv.log.Info("siprec: session ended", "session", sess.id, "call_id", sess.callID, "reason", reason.String(),
			"duration", at.Sub(sess.start).Round(time.Millisecond))
	}
	return sess.established
}

// byeInBackground sends the session's BYE from a goroutine Shutdown waits
// for, bounded by 64×T1.
func (s *Server) byeInBackground(sess *Session) {
	s.goroutine(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 64*sipgosip.T1)
		defer cancel()
		_ = s.sendBye(ctx, sess, nil)
	})
}

// Hangup ends the session from the server side: the sink gets End with
// EndHangup (its streams stopped, its Admission released), then the client
// gets a BYE carrying a Reason header (RFC 3326) with cause, a SIP status
// code from 200 to 699, and text, such as
//
//	Reason: SIP ;cause=500;text="Recording failed"
//
// so that it knows why and can fail over to another recording server.
// A gateway calls it when it can no longer record the session (the disk is
// full, the recorder failed). text is optional; quotes, backslashes and
// control characters in it are replaced, and it is cut at 200 bytes.
//
// Hangup waits, bounded by ctx, for a setup or re-INVITE under way and for
// the ACK of the last 2xx (RFC 3261 §15), then for the BYE's final answer.
// It returns nil once the client answered the BYE (whatever the code: the
// dialog is over either way); ErrSessionEnded when the session was already
// over; ErrInvalidCause for a bad cause (nothing is done); ErrNoClient
// when the Server has no client to send the BYE with, or the BYE's error
// (ctx's included) when it got no answer: the session is ended in those
// cases all the same.
//
// Call it from a goroutine of your own: not from the session's SessionSink
// methods or stream handlers, which run under the session's lock or on the
// receive goroutines Hangup waits for.
func (sess *Session) Hangup(ctx context.Context, cause int, text string) error {
	if cause < 200 || cause > 699 {
		return fmt.Errorf("%w: %d", ErrInvalidCause, cause)
	}
	srv := sess.srv
	sess.settle(ctx)
	if !sess.end(EndHangup) {
		return fmt.Errorf("%w: session %s", ErrSessionEnded, sess.id)
	}
	srv.log.Info("siprec: session hung up", "session", sess.id, "call_id", sess.callID, "cause", cause, "text", text)
	return srv.sendBye(ctx, sess, reasonHeader(cause, text))
}

// reasonHeader returns a Reason header (RFC 3326 §2) of protocol SIP.
func reasonHeader(cause int, text string) sipgosip.Header {
	v := "SIP ;cause=" + strconv.Itoa(cause)
	if text != "" {
		if len(text) > 200 {
			text = text[:200]
		}
		text = strings.Map(func(r rune) rune {
			if r == '"' || r == '\\' || r < 0x20 || r == 0x7f || r == utf8.RuneError {
				return '\''
			}
			return r
		}, text)
		v += `;text="` + text + `"`
	}
	return sipgosip.NewHeader("Reason", v)
}

// sendBye sends BYE in the session's dialog (RFC 3261 §15.1.1), with
// header when not nil, and waits for the final answer.
func (s *Server) sendBye(ctx context.Context, sess *Session, header sipgosip.Header) error {
	c := s.client.Load()
	if c == nil {
		return ErrNoClient
	}
	bye := sess.byeRequest()
	if header != nil {
		bye.AppendHeader(header)
	}
	res, err := c.Do(ctx, bye, sipgo.ClientRequestAddVia)
	if err != nil {
		s.log.Info("siprec: BYE failed", "session", sess.id, "call_id", sess.callID, "error", err)
		return fmt.Errorf("siprec: BYE of session %s: %w", sess.id, err)
	}
	s.log.Debug("siprec: BYE answered", "session", sess.id, "code", res.StatusCode)
	return nil
}

// byeRequest builds the Server's BYE: From and To of the dialog seen from
// this side, the next local CSeq, the route set, to the remote target. Over
// connection-oriented transports without a route set it goes back on the
// connection the INVITE came on.
func (sess *Session) byeRequest() *sipgosip.Request {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.localCSeq++
	bye := sipgosip.NewRequest(sipgosip.BYE, *sess.remoteTarget.Clone())
	bye.SetTransport(sess.transport)
	inv := sess.invite
	from := &sipgosip.FromHeader{Address: *inv.To().Address.Clone(), DisplayName: inv.To().DisplayName, Params: sipgosip.NewParams()}
	from.Params.Add("tag", sess.localTag)
	to := &sipgosip.ToHeader{Address: *inv.From().Address.Clone(), DisplayName: inv.From().DisplayName, Params: inv.From().Params.Clone()}
	callID := sipgosip.CallIDHeader(sess.callID)
	maxFwd := sipgosip.MaxForwardsHeader(70)
	bye.AppendHeader(from)
	bye.AppendHeader(to)
	bye.AppendHeader(&callID)
	bye.AppendHeader(&sipgosip.CSeqHeader{SeqNo: sess.localCSeq, MethodName: sipgosip.BYE})
	bye.AppendHeader(&maxFwd)
	for _, r := range sess.routeSet {
		bye.AppendHeader(sipgosip.NewHeader("Route", r))
	}
	if len(sess.routeSet) == 0 && sipgosip.IsReliable(sess.transport) && sess.source.IsValid() {
		bye.SetDestination(sess.source.String())
	}
	bye.SetBody(nil)
	return bye
}

// reoffer handles a re-INVITE or UPDATE of a session (RFC 3261 §14, RFC
// 3311, RFC 7866 §7.1.2): a new offer, metadata, or both; or neither (a
// session refresh, or an offerless re-INVITE, which gets the current SDP).
// A request that is refused leaves the session as it was.
func (s *Server) reoffer(_ context.Context, sess *Session, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
	if bad := unsupported(req); len(bad) > 0 {
		s.respond(tx, req, 420, "", nil, sipgosip.NewHeader("Unsupported", strings.Join(bad, ", ")))
		return
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended {
		s.respondStateless(tx, req, 481)
		return
	}
	n := cseq(req)
	if n <= sess.remoteCSeq {
		s.respond(tx, req, 500, "CSeq Out of Order", nil)
		return
	}
	sess.remoteCSeq = n
	body, err := ParseBody(contentType(req), req.Body(), &BodyOptions{MaxMetadataSize: s.cfg.MaxMetadataSize})
	if err != nil {
		s.reject(tx, req, err)
		return
	}
	var plan *mediaPlan
	if body.SDP != nil {
		offer, err := media.ParseSDP(body.SDP)
		if err != nil {
			s.reject(tx, req, err)
			return
		}
		if k := len(offer.Media); k > s.cfg.MaxStreams {
			s.reject(tx, req, fmt.Errorf("%w: the offer has %d m-lines, the limit is %d", ErrTooManyStreams, k, s.cfg.MaxStreams))
			return
		}
		if err := s.checkSDESTransport(req, offer); err != nil {
			s.reject(tx, req, err)
			return
		}
		if plan, err = s.plan(sess, offer); err != nil {
			s.reject(tx, req, err)
			return
		}
	}
	var answer []byte
	switch {
	case plan != nil:
		answer = plan.body
	case req.IsInvite(): // a refresh or an offerless re-INVITE: the current SDP
		answer = sess.answerBody
	}
	res := s.answerResponse(sess, req, answer)
	if err := fitsUDP(sess.transport, res); err != nil {
		if plan != nil {
			plan.discard()
		}
		s.reject(tx, req, err)
		return
	}
	if body.Metadata != nil {
		sess.applyMetadata(body.Metadata)
	}
	if plan != nil {
		s.commit(sess, plan)
	}
	if c := req.Contact(); c != nil { // target refresh (RFC 3261 §12.2.2)
		sess.remoteTarget = *c.Address.Clone()
	}
	sess.touch()
	if !req.IsInvite() {
		if err := tx.Respond(res); err != nil {
			s.log.Debug("siprec: response not sent", "method", string(req.Method), "session", sess.id, "error", err)
		}
		return
	}
	p := sess.expectAck(n)
	if err := tx.Respond(res); err != nil {
		s.log.Info("siprec: re-INVITE answer not sent", "session", sess.id, "error", err)
		return
	}
	s.goroutine(func() { s.await2xx(sess, tx, res, p) })
}

// applyMetadata merges a metadata document into the session's state and
// tells the sink what changed.
func (sess *Session) applyMetadata(md *metadata.Recording) {
	changes := sess.state.Apply(md)
	for _, c := range changes {
		if c.Kind == metadata.RecordingIDChanged {
			sess.info.Lock()
			sess.recordingID = recordingIDOf(sess.invite, c.Value)
			sess.info.Unlock()
		}
	}
	if len(changes) > 0 && sess.sink != nil {
		sess.sink.UpdateMetadata(changes, sess.state.Recording())
	}
}

// mediaPlan is the answer to a new offer, prepared without touching the
// session so that a failure leaves it unchanged.
type mediaPlan struct {
	offer  *media.SessionDescription
	answer *media.SessionDescription
	body   []byte
	fresh  map[int]*media.Endpoint // ports allocated for new streams, by m-line
}

// plan answers a new offer: existing streams (same m-line, same label, same
// protocol) keep their port and, under SRTP, the key they answered with;
// new ones get a port. A line that moves between RTP/AVP and RTP/SAVP is a
// new stream (its Receiver decrypts or not from its first packet). The o=
// version stays when the answer is the same as the last one (a session
// refresh) and goes up by one otherwise (RFC 3264 §8).
func (s *Server) plan(sess *Session, offer *media.SessionDescription) (*mediaPlan, error) {
	p := &mediaPlan{offer: offer, fresh: make(map[int]*media.Endpoint)}
	sess.info.RLock()
	current := sess.streams
	sess.info.RUnlock()
	answer, err := media.Answer(offer, media.AnswerConfig{
		Address:   sess.mediaAddr,
		Origin:    sess.origin,
		Codecs:    s.cfg.Codecs,
		Direction: media.RecvOnly,
		SDES:      s.sdes(),
		Port: func(i int, m *media.Media) (int, error) {
			if i < len(current) && current[i] != nil && current[i].label == m.Label && current[i].protocol == m.Protocol {
				return current[i].ep.Port(), nil
			}
			ep, err := s.ports.Allocate()
			if err != nil {
				return 0, err
			}
			p.fresh[i] = ep
			return ep.Port(), nil
		},
	})
	if err == nil {
		for i := range answer.Media {
			if _, fresh := p.fresh[i]; !fresh && i < len(current) && !answer.Media[i].Rejected() {
				keepAnswerKey(current[i], &answer.Media[i])
			}
		}
		err = checkRequired(sess.requireSRTP, offer, answer)
	}
	if err == nil {
		p.body, err = answer.Marshal()
		if err == nil && !bytes.Equal(p.body, sess.answerBody) {
			answer.Origin.SessionVersion = sess.origin.SessionVersion + 1
			p.body, err = answer.Marshal()
		}
	}
	if err != nil {
		p.discard()
		return nil, err
	}
	p.answer = answer
	return p, nil
}

// discard frees the ports a plan allocated.
func (p *mediaPlan) discard() {
	for _, ep := range p.fresh {
		_ = ep.Close()
	}
}

// commit applies a planned answer: removed streams stop, new ones start,
// kept ones follow new codecs, a moved remote, and pause or resume; the sink
// hears of each, then of the session's pause or resume.
func (s *Server) commit(sess *Session, p *mediaPlan) {
	resumeAt := s.now()
	gateResume := s.rxNow()
	sess.info.RLock()
	old := sess.streams
	wasPaused := sess.paused
	sess.info.RUnlock()
	next := make([]*Stream, len(p.answer.Media))
	var removed, added []*Stream
	for i := 0; i < max(len(old), len(next)); i++ {
		var o *Stream
		if i < len(old) {
			o = old[i]
		}
		if i >= len(next) || p.answer.Media[i].Rejected() {
			if o != nil {
				removed = append(removed, o)
			}
			continue
		}
		m, om := &p.answer.Media[i], &p.offer.Media[i]
		if ep := p.fresh[i]; ep != nil {
			if o != nil {
				removed = append(removed, o)
			}
			st, err := s.newStream(sess, i, m, om, ep)
			if err != nil {
				_ = ep.Close()
				s.log.Warn("siprec: stream not started", "session", sess.id, "error", err)
				continue
			}
			next[i] = st
			added = append(added, st)
			continue
		}
		if err := o.follow(m, om, gateResume); err != nil {
			s.log.Warn("siprec: stream not re-keyed", "session", sess.id, "label", o.label, "error", err)
		}
		next[i] = o
	}
	sess.info.Lock()
	sess.streams = next
	sess.paused = allPaused(next)
	nowPaused := sess.paused
	sess.info.Unlock()
	at := s.now()
	for _, st := range removed {
		_ = st.rx.Close()
		sess.sink.RemoveStream(st, at)
	}
	for _, st := range added {
		st.setHandler(sess.sink.AddStream(st))
		s.run(sess, st)
	}
	switch {
	case !wasPaused && nowPaused:
		sess.sink.Pause(at)
	case wasPaused && !nowPaused:
		sess.sink.Resume(resumeAt)
	}
	sess.origin = p.answer.Origin
	sess.answerBody = p.body
}

// follow applies a new answer to a kept stream: codecs, remote address,
// direction, and under SRTP the client's key of the new offer (the same key
// is no change; a new one takes over from its first packet). An error
// (keys that cannot be used) leaves the old key in use.
func (st *Stream) follow(answered, offered *media.Media, resumeAt time.Time) error {
	var rekeyErr error
	if st.srtp != nil {
		keys, err := media.NegotiatedSDES(offered, answered)
		if err == nil {
			err = st.srtp.Rekey(keys.Offer)
		}
		if err != nil {
			rekeyErr = err
		} else {
			st.mu.Lock()
			st.answerCrypto = keys.Answer
			st.mu.Unlock()
		}
	}
	st.mu.Lock()
	codecsChanged := !equalCodecs(st.codecs, answered.Codecs)
	remote := offered.RTPAddr()
	moved := remote != st.remote
	st.codecs, st.remote, st.direction = answered.Codecs, remote, answered.Direction
	st.mu.Unlock()
	if codecsChanged {
		st.rx.SetCodecs(answered.Codecs)
	}
	if moved {
		st.rx.SetRemote(remote)
	}
	switch receives := answered.Direction.Receives(); {
	case receives && st.paused.Load():
		st.resumeAt.Store(resumeAt.UnixNano())
		st.paused.Store(false)
	case !receives:
		st.paused.Store(true)
	}
	return rekeyErr
}

func equalCodecs(a, b []media.Codec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

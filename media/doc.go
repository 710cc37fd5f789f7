// Package media receives and sends telephone audio over RTP: the layer below
// SIP that a voice gateway, a SIPREC recording server (SRS) and a SIPREC
// recording client (SRC) share.
//
// It covers:
//
//   - SDP offer/answer for audio (RFC 4566, RFC 3264) on pion/sdp/v3:
//     ParseSDP and SessionDescription.Marshal for offers and answers, Answer
//     to answer an offer. PCMU (0), PCMA (8) and telephone-event (RFC 4733);
//     several labelled m=audio lines (a=label, RFC 4574) as SIPREC offers
//     them (RFC 7866); directions mirrored (sendonly → recvonly, inactive →
//     inactive); the offer's codec order and ptime kept. ErrMalformedSDP
//     and ErrNoUsableCodec say why an offer cannot be answered.
//   - RTP ports (RFC 3550 §11): a PortPool hands out Endpoints, an even RTP
//     port with the next port reserved for RTCP, picked at random from a
//     configured range; ErrNoFreePort when it is exhausted.
//   - RTP receive (RFC 3550): a Receiver latches a source only where the
//     SDP (or, relaxed, the SIP signalling) says the sender is, and only
//     after a few packets in a row, drops strangers' and malformed
//     packets, follows SSRC changes and
//     16-bit sequence wrap-around, reorders (configurable depth), removes
//     duplicates, decodes G.711 μ-law and A-law (zaf/g711) and RFC 4733
//     DTMF, and keeps the statistics of RFC 3550 §6.4.1 and Appendix A
//     (received, expected, lost, duplicates, out of order, interarrival
//     jitter) plus strangers, malformed and ignored packets.
//   - Many streams on few goroutines: a Poller (ReceiverConfig.Poller)
//     receives the RTP of many Receivers on one worker per core, with epoll
//     and one read per packet on Linux, instead of a goroutine woken for
//     every packet; see Poller.
//   - RTP send: a Sender packetizes PCM or G.711 at the negotiated ptime
//     with consecutive sequence numbers, timestamps, its own SSRC and the
//     marker bit, and sends RFC 4733 DTMF.
//   - SRTP keyed by SDES (RFC 3711, RFC 4568, RFC 7714) on pion/srtp:
//     a=crypto lines parsed and written (Crypto, Media.Crypto), RTP/SAVP
//     offers answered (AnswerConfig.SDES) and answers checked
//     (NegotiatedSDES), and an SRTPContext per direction that a Receiver
//     decrypts with and a Sender encrypts with; see "SRTP with SDES".
//
// # The stream timeline
//
// A Receiver delivers to its Handler, in order, Audio (decoded PCM of one
// packet), Gap (a stretch without audio, with its exact length in samples)
// and DTMF (one per key press). Audio and Gap lay out one continuous sample
// timeline per stream at SampleRate (8000 Hz): it starts at 0 with the first
// sample delivered, and each delivery starts where the previous one ended.
// The Arrival of the Audio at Position 0 (also Stats.FirstArrival) is the
// wall-clock time of the stream's first sample, so a recorder places a
// stream that starts late, and writes silence of Gap.Samples for each gap,
// and its file stays true to the wall clock.
//
// Gaps are sized by RTP timestamps, which are exact whatever was lost:
// lost packets (GapLoss) and silence suppression (GapSilence) give the
// timestamp difference. Arrival time sizes the gap instead when timestamps
// cannot be trusted: when a new SSRC takes over or the sequence restarts
// (GapSourceChange), and when the timestamp jump disagrees with the arrival
// time by more than ReceiverConfig.MaxTimestampSkew, 1 s by default
// (GapResync: a sender that reset its clock does not produce an hour of
// silence, and one that stopped its clock during a pause does not lose the
// pause). Arrival-sized gaps are rounded to whole packets.
//
// Whatever the timestamps say, the timeline never runs ahead of the
// arrival clock by more than MaxTimestampSkew: each of the rules above
// compares a packet with the previous one only, so a sender whose
// timestamps jump by just under the skew with every packet (or that sends
// faster than real time) would otherwise move the timeline on by up to the
// skew per packet — 500 packets in 0.56 s made a 499 s recording. A packet
// that would start more than MaxTimestampSkew after the arrival clock
// (the latest arrival, counted from that of position 0) is dropped, and a
// gap that would end there is cut; both are counted in Stats.Ahead and
// Stats.AheadSamples, and a sender that drops back to real time goes on
// from where the timeline is. The fuzz test FuzzTimeline checks the bound
// for arbitrary sequence numbers, timestamps and arrival times.
//
// Slices passed to a Handler (Audio.PCM, Audio.Payload) are valid only
// during the call: the Receiver reuses its buffers, which is why its
// per-packet path does not allocate.
//
// # Who may send: RTP latching
//
// RTP has no authentication of its own (SRTP is what adds it), so a
// Receiver decides by address whose packets are the stream. What is
// checked:
//
//   - The address. ReceiverConfig.Remote is where the SDP offer said the
//     RTP comes from (its c= address and m= port). With the default
//     LatchStrict only that address and port may become the source
//     (rtpengine's strict source, Asterisk's strictrtp). LatchRelaxed also
//     accepts any port of ReceiverConfig.Signalling, the address the SIP
//     INVITE came from, for senders behind a NAT whose SDP names a private
//     address; LatchAny accepts any address (no protection). A Receiver
//     without a Remote has nothing to check and accepts any address.
//   - Consecutive packets. A source latches only after
//     ReceiverConfig.LatchPackets (DefaultLatchPackets, 4) usable packets
//     in a row with no packet of another allowed address in between; its
//     held packets are then delivered, so the wait loses nothing.
//   - After latching, every packet from another address is dropped before
//     it is parsed (a comparison per packet, whatever the flood) and
//     counted in Stats.Strangers, until Receiver.SetRemote (a re-INVITE
//     moved the sender) or Receiver.Relatch.
//   - The ports. A PortPool picks each pair at random (crypto/rand) among
//     the pairs free the longest, so the ports of the next call cannot be
//     guessed from those of the last one and sprayed with RTP before its
//     sender starts.
//
// The operator's knobs: the Latching mode (strict by default; relaxed for
// NATed senders; any only on trusted networks), LatchPackets, and the
// port range. In package siprec they are Config.Latching and the Config's
// media.ReceiverConfig template; the server sets Remote and Signalling
// of each stream from the offer and the INVITE. A high Stats.Strangers
// with nothing received is a sender that is not where its SDP says (try
// relaxed), or someone else sending to the port.
//
// # Using it
//
// A recording server answers an offer and receives each stream:
//
//	offer, err := media.ParseSDP(body)                 // ErrMalformedSDP → 400
//	eps := map[int]*media.Endpoint{}
//	answer, err := media.Answer(offer, media.AnswerConfig{
//		Address:   ip,
//		Direction: media.RecvOnly,
//		Port: func(i int, m *media.Media) (int, error) {
//			ep, err := pool.Allocate()                // ErrNoFreePort → 503
//			if err != nil {
//				return 0, err
//			}
//			eps[i] = ep
//			return ep.Port(), nil
//		},
//	})                                                 // ErrNoUsableCodec → 488
//	for i, ep := range eps {
//		rx, _ := media.NewReceiver(ep, media.ReceiverConfig{
//			Handler:    h,
//			Codecs:     answer.Media[i].Codecs,
//			Remote:     offer.Media[i].RTPAddr(), // only the SDP's sender latches
//			Signalling: inviteSource,             // for Latching: media.LatchRelaxed
//		})
//		go rx.Run(ctx)
//	}
//	reply, _ := answer.Marshal()                      // application/sdp
//
// On a re-INVITE it answers again with the ports it has, calls
// Receiver.SetCodecs with the new codecs and Receiver.SetRemote when the
// offer's address or port changed; on BYE it closes the Receivers, which
// frees their ports.
//
// A recording client fills in a SessionDescription (one sendonly m= line per
// stream, labelled), marshals it, parses the answer, and sends each stream
// with a Sender to the answered Media.RTPAddr() using Media.AudioCodec() and
// Media.PTime.
//
// # SRTP with SDES
//
// SDES (RFC 4568) carries SRTP master keys in the SDP itself: an RTP/SAVP
// m= line lists a=crypto lines, each a tag, a crypto-suite and an inline
// key. The offerer lists one line per suite it accepts, each with its own
// key; the answerer takes the first line it supports, in the offer's order,
// and answers with the same tag and suite and a fresh key of its own. Each
// side encrypts what it sends with its own key; the other decrypts with it.
//
// The keys are in the SDP: an offer or answer with a=crypto must only
// travel over TLS (SIPS). This package cannot see the signalling; the SIP
// layer (siprec) refuses a=crypto received over clear signalling and never
// sends it there, unless explicitly allowed for testing. Keys never reach a
// log or an error from here: Crypto, CryptoKey and the key itself ([secret.Bytes]) print
// redacted under fmt, slog and JSON; only Crypto.Marshal and
// SessionDescription.Marshal write them.
//
// A recording server answers with SDES and decrypts each stream:
//
//	answer, err := media.Answer(offer, media.AnswerConfig{
//		Address: ip, Direction: media.RecvOnly, Port: port,
//		SDES:    &media.SDESConfig{Require: account.RequireSRTP}, // clear offer: ErrSRTPRequired → 488
//	})                                                // no usable a=crypto: ErrUnsupportedCrypto → 488
//	for i, ep := range eps {
//		var srtp *media.SRTPContext
//		if answer.Media[i].Protocol == media.ProtoSRTP {
//			keys, err := media.NegotiatedSDES(&offer.Media[i], &answer.Media[i])
//			...
//			srtp, err = media.NewSRTPContext(keys.Offer, media.SRTPConfig{}) // the client's key
//		}
//		rx, _ := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Codecs: answer.Media[i].Codecs, SRTP: srtp})
//	}
//
// On a re-INVITE the server answers again with SDES and calls Rekey on each
// Receiver's context with the newly agreed offered line: the same key is no
// change; a new key takes over from the peer's first packet under it, the
// old one staying accepted for the packets in flight until then.
//
// A recording client offers media.OfferCrypto() (a fresh key per suite) in
// each stream's Media.Crypto with Protocol media.ProtoSRTP, checks the
// answer with NegotiatedSDES (which refuses an answer that does not follow
// RFC 4568 §5.1.2), and sends with
// SenderConfig{SRTP: NewSRTPContext(keys.Offer, ...)}: its own key, one
// per forked stream.
//
// Supported: the suites AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32,
// AEAD_AES_128_GCM and AEAD_AES_256_GCM, each checked against libsrtp2 in
// both directions; a key lifetime up to 2^48 packets (enforced: the key
// protects no more); one MKI of 1 to 128 bytes; the session parameters WSH
// (widens the replay window) and FEC_ORDER=FEC_SRTP. Refused, with an
// error wrapping ErrUnsupportedCrypto that names the value: other suites
// (F8, AES-192/256-CM), several keys on one line (MKI key switching), and
// the session parameters KDR, UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP,
// UNAUTHENTICATED_SRTP, FEC_KEY and unknown ones. Not implemented: SRTCP
// (this package does not read RTCP), DTLS-SRTP and MIKEY keying.
//
// A Receiver with ReceiverConfig.SRTP authenticates and decrypts every
// packet, in place, before anything else looks at it: a forged packet
// (Stats.AuthFailures), a replayed one or one older than the replay window
// of 128 packets (Stats.Replayed), and one past the key's lifetime
// (Stats.KeyExpired) are dropped, never delivered, and never latch the
// source nor count among the packets in a row that latching waits for; a
// packet from an address that may not send is dropped before any
// decryption. The replay window is this package's own, per SSRC,
// over the same packet index pion authenticates with. Decrypting allocates
// nothing per packet (BenchmarkSRTPDecrypt, TestSRTPDoesNotAllocate); only
// refusing a forged GCM packet costs pion/srtp 4 small allocations, and a
// forged packet of an SSRC never authenticated 1 more.
//
// The package imports nothing else of voicegw; recording and siprec build on
// it. It keeps no global state; loggers are injected through the
// configurations.
package media

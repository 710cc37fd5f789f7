package siprec

import (
	"errors"
	"fmt"
	"strings"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
)

// SRTPConfig says how a Server takes SRTP keyed by SDES (RFC 3711, RFC
// 4568): RTP/SAVP m-lines whose a=crypto lines carry the client's master
// keys. The zero value accepts SRTP offers over TLS (every suite of
// media.SupportedCryptoSuites, the offer's order of preference), still
// accepts offers in clear, and refuses a=crypto received over clear
// signalling.
//
// Each accepted RTP/SAVP line is answered with one a=crypto line: the tag
// and suite of the first offered line the Server supports, and a key of its
// own (a recorder sends nothing, but RFC 4568 asks for one). Each stream's
// media.Receiver decrypts with the client's key before anything is
// recorded: a forged packet (media.Stats.AuthFailures) or a replayed one
// (media.Stats.Replayed) is dropped and counted, never recorded. A
// re-INVITE with a new key re-keys the stream (media.SRTPContext.Rekey); one
// that changes a line between RTP/AVP and RTP/SAVP moves the stream to a new
// port.
type SRTPConfig struct {
	// Disable refuses SRTP: RTP/SAVP lines are answered with port 0, as by a
	// server without SRTP (an offer with nothing else gets 488). Default
	// false.
	Disable bool
	// Suites are the crypto-suites accepted; default
	// media.SupportedCryptoSuites() (AES_CM_128_HMAC_SHA1_80 and _32,
	// AEAD_AES_128_GCM, AEAD_AES_256_GCM).
	Suites []media.CryptoSuite
	// Require refuses every offer that records anything in clear: an offer
	// with an accepted RTP/AVP line is answered 488 with a Warning naming
	// the line (ErrSRTPRequired). Default false; an Admission can require it
	// for one session (Admission.RequireSRTP), as an account's policy.
	Require bool
	// AllowClearSignalling accepts a=crypto lines received over clear SIP
	// (UDP, TCP). INSECURE: SDES keys are in the SDP, so whoever sees the
	// signalling can decrypt the media; meant for tests and trusted
	// networks only. Default false: an INVITE, re-INVITE or UPDATE whose SDP
	// holds a=crypto and that did not come over TLS (or WSS) is answered 488
	// with a Warning (ErrClearSDES).
	AllowClearSignalling bool
	// ReplayWindow is each stream's SRTP replay window in packets
	// (media.SRTPConfig.ReplayWindow); default 128.
	ReplayWindow int
}

// Errors of SRTP offers; each is answered 488 Not Acceptable Here with a
// Warning saying why.
var (
	// ErrClearSDES: the offer holds a=crypto keys but came over clear
	// signalling (UDP or TCP), and SRTPConfig.AllowClearSignalling is off.
	ErrClearSDES = errors.New("siprec: SDES keys (a=crypto) received over clear signalling: send SRTP offers over SIP over TLS (sips:)")
	// ErrSRTPRequired: SRTP is required (SRTPConfig.Require or
	// Admission.RequireSRTP) and the offer records a line in clear. It
	// wraps media.ErrSRTPRequired.
	ErrSRTPRequired = fmt.Errorf("siprec: %w", media.ErrSRTPRequired)
)

// secureTransport reports whether req came over an encrypted transport.
func secureTransport(req *sipgosip.Request) bool {
	switch strings.ToUpper(req.Transport()) {
	case "TLS", "WSS":
		return true
	}
	return false
}

// hasSDES reports whether an offer carries a=crypto lines (parsed or not):
// keys that must not have crossed clear signalling.
func hasSDES(d *media.SessionDescription) bool {
	for i := range d.Media {
		if len(d.Media[i].Crypto) > 0 {
			return true
		}
		for _, a := range d.Media[i].Attributes {
			if strings.EqualFold(a.Key, "crypto") {
				return true
			}
		}
	}
	return false
}

// sdes returns the SDES configuration of Answer for a request: nil when
// SRTP is disabled.
func (s *Server) sdes() *media.SDESConfig {
	if s.cfg.SRTP.Disable {
		return nil
	}
	return &media.SDESConfig{Suites: s.cfg.SRTP.Suites}
}

// checkSDESTransport refuses keys received over clear signalling.
func (s *Server) checkSDESTransport(req *sipgosip.Request, offer *media.SessionDescription) error {
	if s.cfg.SRTP.AllowClearSignalling || secureTransport(req) || !hasSDES(offer) {
		return nil
	}
	return fmt.Errorf("%w (it came over %s)", ErrClearSDES, strings.ToUpper(req.Transport()))
}

// checkRequired refuses an answer that records an offered line in clear
// when SRTP is required.
func checkRequired(require bool, offer, answer *media.SessionDescription) error {
	if !require {
		return nil
	}
	for i := range answer.Media {
		if !answer.Media[i].Rejected() && answer.Media[i].Protocol != media.ProtoSRTP {
			return fmt.Errorf("%w: SRTP is required and m-line %d (label %q) offers %s", ErrSRTPRequired,
				i, offer.Media[i].Label, offer.Media[i].Protocol)
		}
	}
	return nil
}

// streamSRTP returns the decrypting context of an answered line: nil for
// a line in clear, else a context with the client's key (the offered line
// the answer accepted).
func (s *Server) streamSRTP(answered, offered *media.Media) (*media.SRTPContext, error) {
	if answered.Protocol != media.ProtoSRTP {
		return nil, nil
	}
	keys, err := media.NegotiatedSDES(offered, answered)
	if err != nil {
		return nil, err
	}
	return media.NewSRTPContext(keys.Offer, media.SRTPConfig{ReplayWindow: s.cfg.SRTP.ReplayWindow})
}

// keepAnswerKey gives the answer's a=crypto line of a kept stream the key
// the stream answered with before, when the suite is the same: a session
// refresh then gets the same answer (RFC 4568 §7.1.4 lets the answerer
// keep its key).
func keepAnswerKey(st *Stream, answered *media.Media) {
	if st == nil || len(answered.Crypto) != 1 {
		return
	}
	st.mu.Lock()
	prev := st.answerCrypto
	st.mu.Unlock()
	if len(prev.Keys) > 0 && strings.EqualFold(string(prev.Suite), string(answered.Crypto[0].Suite)) {
		answered.Crypto[0].Keys = prev.Keys
		answered.Crypto[0].SessionParams = prev.SessionParams
	}
}

// ClientSRTPConfig says which recorders a Client sends SRTP keyed by SDES
// (RFC 3711, RFC 4568). The zero value offers SRTP, and only SRTP, to every
// recorder the INVITE reaches over TLS (a sips: URI, or transport=tls), and
// plain RTP to the others: SDES keys travel in the SDP, so they are never
// sent over clear signalling unless AllowClearSignalling says so.
//
// An SRTP offer has one RTP/SAVP line per forked stream, each with one
// a=crypto line of Suite and a master key of its own (media.NewCrypto),
// kept for the dialog's re-INVITEs. Each stream is encrypted with its key
// (media.SenderConfig.SRTP) once the recorder's answer accepted it over
// RTP/SAVP with an a=crypto line of the offered tag and suite
// (media.NegotiatedSDES); an answer that accepts a line in clear, or
// without a usable a=crypto line, is refused (ErrBadAnswer): nothing is
// ever sent in clear to a recorder that was offered SRTP. A recorder's
// re-INVITE offer is answered with a new key of the Client's per SRTP line
// (and must keep every line SRTP: a line in clear gets port 0).
type ClientSRTPConfig struct {
	// Disable offers plain RTP (RTP/AVP) to every recorder, TLS or not.
	// Default false.
	Disable bool
	// Suite is the crypto-suite offered; default AES_CM_128_HMAC_SHA1_80
	// (RFC 4568's mandatory suite). One of media.SupportedCryptoSuites.
	Suite media.CryptoSuite
	// AllowClearSignalling offers SRTP to recorders reached over UDP or TCP
	// as well. INSECURE: whoever sees the SIP can decrypt the media; meant
	// for tests and trusted networks only (the recorder must accept keys in
	// clear too). Default false.
	AllowClearSignalling bool
}

// Offers reports whether a Client with this configuration offers SRTP
// (and only SRTP) to a recorder reached at t.
func (c ClientSRTPConfig) Offers(t Target) bool {
	if c.Disable {
		return false
	}
	return c.AllowClearSignalling || strings.EqualFold(t.Transport, TransportTLS)
}

// srtpSuites names the crypto-suite of each stream, "RTP" for one in
// clear, for the logs (never a key).
func srtpSuites(streams []*Stream) string {
	var b strings.Builder
	for i, st := range streams {
		if i > 0 {
			b.WriteByte(',')
		}
		if suite := st.SRTP(); suite != "" {
			b.WriteString(string(suite))
		} else {
			b.WriteString("RTP")
		}
	}
	return b.String()
}

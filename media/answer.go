package media

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AnswerConfig says how Answer answers an offer.
type AnswerConfig struct {
	// Address is where this side receives RTP: the c= address of the answer.
	// Required.
	Address netip.Addr

	// Origin is the o= line of the answer. An empty Username becomes "-", a
	// zero SessionID is derived from the current time, an empty Address is
	// Address. SessionVersion is used as given: a dialog that answers again
	// (re-INVITE) keeps SessionID and increases SessionVersion (RFC 3264 §8).
	Origin Origin

	// SessionName is the s= line; default "-".
	SessionName string

	// Codecs lists the codecs this side accepts; default DefaultCodecs().
	// An offered codec is accepted when its encoding and clock rate match
	// one of these; the answer keeps the offer's payload type numbers, fmtp
	// and order (RFC 3264 §6.1).
	Codecs []Codec

	// Direction is the most this side does on every line. The answer's
	// direction is the offer's mirrored (RFC 3264 §6.1) and limited to it.
	// The default SendRecv mirrors exactly; a recorder sets RecvOnly, which
	// answers sendonly and sendrecv offers with recvonly and recvonly or
	// inactive offers with inactive.
	Direction Direction

	// Port returns the local RTP port for offered m-line i (an index into
	// offer.Media), which Answer accepts. Typically it allocates an Endpoint
	// from a PortPool, or returns the port a stream already has on a
	// re-INVITE. Answer calls it once per accepted line, in order, and never
	// for rejected lines. An error aborts the answer and is returned wrapped
	// (ErrNoFreePort stays matchable); the caller then releases whatever
	// Port allocated for earlier lines. Required.
	Port func(i int, offered *Media) (int, error)

	// SDES, when set, accepts SRTP lines keyed by SDES (RTP/SAVP with
	// a=crypto, RFC 4568) and can require them; see SDESConfig. An
	// accepted RTP/SAVP line is answered with one a=crypto line: the tag
	// and suite of the first usable offered line and a fresh key of this
	// side (NewCrypto). NegotiatedSDES then gives the keys of each line.
	// Default nil: only RTP/AVP is accepted.
	SDES *SDESConfig
}

// Answer builds the answer to offer (RFC 3264 §6): one m= line per offered
// line, in order. An audio line on RTP/AVP (or RTP/SAVP with a usable
// a=crypto line, when cfg.SDES is set) with a non-zero port and at least
// one common audio codec (PCMU or PCMA) is accepted: it gets the port from
// cfg.Port, the common codecs in the offer's order (telephone-event
// included when offered), the offer's ptime and label, the mirrored
// direction, and for RTP/SAVP this side's a=crypto line. Every other line
// is rejected: port 0, the offered formats, its label, inactive.
//
// When no line can be accepted Answer returns an error wrapping
// ErrNoUsableCodec that says why for each line (a SIP server answers 488);
// it wraps ErrUnsupportedCrypto too when a line was refused for its
// a=crypto lines, and ErrSRTPRequired when one was refused for being in
// clear.
func Answer(offer *SessionDescription, cfg AnswerConfig) (*SessionDescription, error) {
	if !cfg.Address.IsValid() {
		return nil, fmt.Errorf("%w: AnswerConfig.Address is required", ErrInvalidConfig)
	}
	if cfg.Port == nil {
		return nil, fmt.Errorf("%w: AnswerConfig.Port is required", ErrInvalidConfig)
	}
	if cfg.Direction > Inactive {
		return nil, fmt.Errorf("%w: AnswerConfig.Direction %v", ErrInvalidConfig, cfg.Direction)
	}
	supported := cfg.Codecs
	if len(supported) == 0 {
		supported = DefaultCodecs()
	}
	origin := cfg.Origin
	if origin.Username == "" {
		origin.Username = "-"
	}
	if origin.SessionID == 0 {
		origin.SessionID = uint64(time.Now().UnixNano())
	}
	if origin.Address == "" {
		origin.Address = cfg.Address.String()
	}
	name := cfg.SessionName
	if name == "" {
		name = "-"
	}
	ans := &SessionDescription{
		Origin:      origin,
		SessionName: name,
		Address:     cfg.Address,
		Media:       make([]Media, len(offer.Media)),
	}
	var reasons []string
	kinds := []error{ErrNoUsableCodec}
	accepted := 0
	for i := range offer.Media {
		om := &offer.Media[i]
		codecs, why := negotiate(om, supported, cfg.SDES != nil)
		var keys []Crypto
		if why == "" {
			var kind error
			if keys, why, kind = answerSDES(om, cfg.SDES); kind != nil && !slices.Contains(kinds, kind) {
				kinds = append(kinds, kind)
			}
		}
		if why != "" {
			reasons = append(reasons, fmt.Sprintf("m-line %d (%s %s): %s", i, om.Type, om.Label, why))
			formats := om.Formats
			if len(formats) == 0 {
				formats = []string{"0"}
			}
			ans.Media[i] = Media{
				Type:      om.Type,
				Protocol:  om.Protocol,
				Formats:   append([]string(nil), formats...),
				Codecs:    staticCodecs(formats),
				Address:   cfg.Address,
				Label:     om.Label,
				Direction: Inactive,
			}
			continue
		}
		port, err := cfg.Port(i, om)
		if err != nil {
			return nil, fmt.Errorf("media: answering m-line %d (label %q): %w", i, om.Label, err)
		}
		if port <= 0 || port > 65535 {
			return nil, fmt.Errorf("%w: AnswerConfig.Port returned %d for m-line %d", ErrInvalidConfig, port, i)
		}
		formats := make([]string, len(codecs))
		for j, c := range codecs {
			formats[j] = strconv.Itoa(int(c.PayloadType))
		}
		want := om.Direction.Mirror()
		dir := directionOf(want.Sends() && cfg.Direction.Sends(), want.Receives() && cfg.Direction.Receives())
		ans.Media[i] = Media{
			Type:      om.Type,
			Port:      port,
			Protocol:  om.Protocol,
			Formats:   formats,
			Codecs:    codecs,
			Address:   cfg.Address,
			Label:     om.Label,
			Direction: dir,
			PTime:     om.PTime,
			Crypto:    keys,
		}
		accepted++
	}
	if accepted == 0 {
		if len(reasons) == 0 {
			reasons = append(reasons, "the offer has no m= lines")
		}
		return nil, &answerError{msg: ErrNoUsableCodec.Error() + ": " + strings.Join(reasons, "; "), kinds: kinds}
	}
	return ans, nil
}

// answerError is Answer's refusal: ErrNoUsableCodec, and the classes of
// the reasons (ErrUnsupportedCrypto, ErrSRTPRequired).
type answerError struct {
	msg   string
	kinds []error
}

func (e *answerError) Error() string   { return e.msg }
func (e *answerError) Unwrap() []error { return e.kinds }

// staticCodecs returns the codecs a parser infers for formats written
// without a=rtpmap lines: those of RFC 3551's static payload types.
func staticCodecs(formats []string) []Codec {
	var out []Codec
	for _, f := range formats {
		if pt, ok := parsePayloadType(f); ok {
			if c, ok := staticCodec(pt); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// negotiate returns the codecs of om this side accepts, in the offer's order,
// or why the line must be rejected.
func negotiate(om *Media, supported []Codec, srtp bool) ([]Codec, string) {
	switch {
	case om.Type != "audio":
		return nil, "not audio"
	case om.Port == 0:
		return nil, "disabled in the offer (port 0)"
	case om.Protocol == ProtoSRTP && !srtp:
		return nil, fmt.Sprintf("protocol %s is not enabled (AnswerConfig.SDES)", om.Protocol)
	case om.Protocol != ProtoRTP && om.Protocol != ProtoSRTP:
		return nil, fmt.Sprintf("protocol %s is not supported (only %s and %s)", om.Protocol, ProtoRTP, ProtoSRTP)
	}
	var out []Codec
	audio := false
	for _, oc := range om.Codecs {
		for _, sc := range supported {
			if sc.Encoding == oc.Encoding && (sc.ClockRate == 0 || sc.ClockRate == oc.ClockRate) {
				c := oc
				if c.Fmtp == "" {
					c.Fmtp = sc.Fmtp
				}
				out = append(out, c)
				audio = audio || c.Encoding.IsAudio()
				break
			}
		}
	}
	if !audio {
		return nil, fmt.Sprintf("no common audio codec among offered formats %s", strings.Join(om.Formats, " "))
	}
	return out, ""
}

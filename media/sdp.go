package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	psdp "github.com/pion/sdp/v3"
)

// Direction is the media direction attribute of an m= line (RFC 4566 §6,
// RFC 3264 §5.1), seen from the side that wrote the description.
type Direction uint8

// The four directions. The zero value is SendRecv, the RFC 4566 default when
// a description names none.
const (
	SendRecv Direction = iota // a=sendrecv: sends and receives
	SendOnly                  // a=sendonly: sends only (a SIPREC client's streams)
	RecvOnly                  // a=recvonly: receives only (a SIPREC server's answer)
	Inactive                  // a=inactive: neither (a paused recording)
)

// String returns the attribute name: "sendrecv", "sendonly", "recvonly" or
// "inactive".
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Sends reports whether the side that wrote d sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side that wrote d receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// Mirror returns the direction an answerer writes for an offer of d (RFC 3264
// §6.1): sendonly → recvonly, recvonly → sendonly, sendrecv → sendrecv,
// inactive → inactive.
func (d Direction) Mirror() Direction { return directionOf(d.Receives(), d.Sends()) }

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

func parseDirection(key string) (Direction, bool) {
	switch key {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return 0, false
}

// Attribute is an a= line this package does not model, kept so that a
// description survives a parse/marshal round trip. Value is empty for a
// property attribute such as a=rtcp-mux.
type Attribute struct {
	Key, Value string
}

// Origin is the o= line (RFC 4566 §5.2).
type Origin struct {
	// Username is the user name; "-" when there is none.
	Username string
	// SessionID identifies the session; it stays the same for the whole
	// dialog.
	SessionID uint64
	// SessionVersion must increase with every new offer or answer of the
	// same session (RFC 3264 §8).
	SessionVersion uint64
	// Address is the unicast address of the originator, as written (an IP
	// address or a host name).
	Address string
}

// SessionDescription is the part of an SDP body (RFC 4566) a voice gateway
// works with: the origin, the session connection address and the m= lines.
// ParseSDP builds one from a body; Marshal writes one. An offer is built by
// filling one in; Answer builds the answer to an offer.
//
// The zero value is an empty description.
type SessionDescription struct {
	// Origin is the o= line.
	Origin Origin
	// SessionName is the s= line; Marshal writes "-" when it is empty.
	SessionName string
	// Address is the session-level c= address; each Media holds its own
	// resolved address too. It may be invalid (the zero netip.Addr) when
	// every m= line has its own c=.
	Address netip.Addr
	// Media holds the m= lines in order. SIPREC offers hold one per recorded
	// stream, each with its a=label.
	Media []Media
	// Attributes holds the session-level a= lines this package does not
	// model, in order. A session-level direction is not kept here: it is
	// resolved into every Media's Direction.
	Attributes []Attribute
}

// Media is one m= line (RFC 4566 §5.14) with the attributes that matter for
// audio over RTP.
type Media struct {
	// Type is the media type: "audio", "video", "application"...
	Type string
	// Port is the RTP port. Port 0 marks an m= line that is disabled in an
	// offer or rejected in an answer (RFC 3264 §6).
	Port int
	// Protocol is the transport, usually "RTP/AVP", or "RTP/SAVP" for SRTP
	// keyed by SDES (see Crypto).
	Protocol string
	// Formats is the format list of the m= line as written (payload type
	// numbers for RTP). Marshal writes the payload types of Codecs when it
	// is empty.
	Formats []string
	// Codecs holds the formats this package understands (PCMU, PCMA,
	// telephone-event at 8000 Hz), in the order of the m= line.
	Codecs []Codec
	// Address is the connection address of the line: its own c= or else the
	// session's.
	Address netip.Addr
	// Label is the a=label value (RFC 4574) that SIPREC uses to name a
	// stream; empty when there is none.
	Label string
	// Direction is the line's direction attribute, or the session-level one,
	// or SendRecv.
	Direction Direction
	// PTime is the a=ptime packetization time; 0 when not given.
	PTime time.Duration
	// Crypto holds the a=crypto lines (RFC 4568 SDES keys for SRTP), in
	// order: an offer lists one per acceptable suite, most preferred
	// first; an answer holds exactly one. A line that does not parse stays
	// in Attributes. The lines carry keys: a description holding any must
	// travel over TLS only.
	Crypto []Crypto
	// Attributes holds the media-level a= lines this package does not model
	// (a=rtcp, a=maxptime, rtpmap lines of unknown codecs...), in order.
	Attributes []Attribute
}

// Rejected reports whether the line is disabled (offer) or rejected
// (answer): its port is 0.
func (m *Media) Rejected() bool { return m.Port == 0 }

// RTPAddr returns the address RTP for this line is sent to: Address:Port.
func (m *Media) RTPAddr() netip.AddrPort {
	return netip.AddrPortFrom(m.Address, uint16(m.Port))
}

// AudioCodec returns the first audio codec (PCMU or PCMA) of the line: the
// one a sender should use, since an answer lists codecs in the offer's order
// of preference.
func (m *Media) AudioCodec() (Codec, bool) {
	for _, c := range m.Codecs {
		if c.Encoding.IsAudio() {
			return c, true
		}
	}
	return Codec{}, false
}

// EventCodec returns the telephone-event codec of the line, if any.
func (m *Media) EventCodec() (Codec, bool) {
	for _, c := range m.Codecs {
		if c.Encoding == EncodingTelephoneEvent {
			return c, true
		}
	}
	return Codec{}, false
}

// MediaByLabel returns the m= line whose a=label is label.
func (d *SessionDescription) MediaByLabel(label string) (*Media, bool) {
	for i := range d.Media {
		if d.Media[i].Label == label {
			return &d.Media[i], true
		}
	}
	return nil, false
}

// ParseSDP parses an SDP body (RFC 4566; CRLF or LF line endings). Errors
// wrap ErrMalformedSDP and name the bad line or value.
func ParseSDP(b []byte) (*SessionDescription, error) {
	d := new(SessionDescription)
	if err := d.Unmarshal(b); err != nil {
		return nil, err
	}
	return d, nil
}

// Unmarshal parses an SDP body into d, replacing its contents. Errors wrap
// ErrMalformedSDP.
func (d *SessionDescription) Unmarshal(b []byte) error {
	if !strings.HasPrefix(strings.TrimLeft(string(b), " \t\r\n"), "v=") {
		return fmt.Errorf("%w: the body does not start with a v= line", ErrMalformedSDP)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("%w: NUL byte at offset %d", ErrMalformedSDP, i)
	}
	if i := strayCR(b); i >= 0 {
		return fmt.Errorf("%w: carriage return without line feed at offset %d", ErrMalformedSDP, i)
	}
	var sd psdp.SessionDescription
	if err := sd.UnmarshalString(string(b)); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedSDP, err)
	}
	if sd.Origin.UnicastAddress == "" {
		return fmt.Errorf("%w: no o= line", ErrMalformedSDP)
	}
	out := SessionDescription{
		Origin: Origin{
			Username:       sd.Origin.Username,
			SessionID:      sd.Origin.SessionID,
			SessionVersion: sd.Origin.SessionVersion,
			Address:        sd.Origin.UnicastAddress,
		},
		SessionName: string(sd.SessionName),
	}
	if out.Origin.Username == "" {
		out.Origin.Username = "-"
	}
	if out.SessionName == "" {
		out.SessionName = "-"
	}
	if sd.ConnectionInformation != nil {
		a, err := parseConnection(sd.ConnectionInformation)
		if err != nil {
			return fmt.Errorf("%w: session c= line: %v", ErrMalformedSDP, err)
		}
		out.Address = a
	}
	sessDir := SendRecv
	dirSeen := false
	for _, a := range sd.Attributes {
		if noName(a.Key) {
			continue
		}
		if dir, ok := parseDirection(a.Key); ok {
			// The first session-level direction is the default of every m=
			// line; Marshal writes it on each line, so none is kept here.
			if !dirSeen {
				sessDir, dirSeen = dir, true
			}
			continue
		}
		out.Attributes = append(out.Attributes, Attribute{Key: a.Key, Value: a.Value})
	}
	out.Media = make([]Media, 0, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		m, err := parseMedia(md, out.Address, sessDir)
		if err != nil {
			return fmt.Errorf("%w: m-line %d (%s %d): %v", ErrMalformedSDP, i, md.MediaName.Media, md.MediaName.Port.Value, err)
		}
		out.Media = append(out.Media, m)
	}
	*d = out
	return nil
}

// noName reports an attribute line without a name ("a=" or "a=:x"), which
// is dropped: there is nothing to keep.
func noName(key string) bool { return key == "" || key[0] == ':' }

// strayCR returns the offset of a CR not followed by LF, or -1.
func strayCR(b []byte) int {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
			return i
		}
	}
	return -1
}

func parseConnection(c *psdp.ConnectionInformation) (netip.Addr, error) {
	if c.Address == nil {
		return netip.Addr{}, fmt.Errorf("no connection address in %q", c.String())
	}
	host, _, _ := strings.Cut(c.Address.Address, "/") // multicast TTL and range
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("connection address %q is not an IP address (host names are not supported)", c.Address.Address)
	}
	return a, nil
}

// parseMedia resolves one m= line. For each modelled attribute (rtpmap and
// fmtp of an understood codec, ptime, label, direction) the first valid
// occurrence is used; everything else is kept in Attributes, so
// Parse(Marshal(d)) gives d back.
func parseMedia(md *psdp.MediaDescription, sessAddr netip.Addr, sessDir Direction) (Media, error) {
	m := Media{
		Type:      md.MediaName.Media,
		Port:      md.MediaName.Port.Value,
		Protocol:  strings.Join(md.MediaName.Protos, "/"),
		Formats:   append([]string(nil), md.MediaName.Formats...),
		Address:   sessAddr,
		Direction: sessDir,
	}
	if m.Port < 0 || m.Port > 65535 {
		return m, fmt.Errorf("port %d out of range", m.Port)
	}
	if len(m.Formats) == 0 {
		return m, fmt.Errorf("no formats on the m= line")
	}
	if md.ConnectionInformation != nil {
		a, err := parseConnection(md.ConnectionInformation)
		if err != nil {
			return m, err
		}
		m.Address = a
	}
	if m.Port != 0 && !m.Address.IsValid() {
		return m, fmt.Errorf("no c= line for the m= line or the session")
	}

	attrs := md.Attributes
	consumed := make([]bool, len(attrs))
	firstRtpmap := map[uint8]int{}
	firstFmtp := map[uint8]int{}
	var ptimeSeen, labelSeen, dirSeen bool
	for i, a := range attrs {
		switch a.Key {
		case "rtpmap", "fmtp":
			ptStr, params, _ := strings.Cut(strings.TrimSpace(a.Value), " ")
			pt, ok := parsePayloadType(ptStr)
			if !ok || (a.Key == "fmtp" && strings.TrimSpace(params) == "") {
				continue
			}
			idx := firstRtpmap
			if a.Key == "fmtp" {
				idx = firstFmtp
			}
			if _, dup := idx[pt]; !dup {
				idx[pt] = i
			}
		case "ptime":
			if ptimeSeen {
				continue
			}
			ms, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 16)
			if err != nil || ms == 0 {
				continue // not a usable ptime: kept as an unknown attribute
			}
			m.PTime = time.Duration(ms) * time.Millisecond
			ptimeSeen, consumed[i] = true, true
		case "label":
			if v := strings.TrimSpace(a.Value); !labelSeen && v != "" {
				m.Label = v
				labelSeen, consumed[i] = true, true
			}
		case "crypto":
			if c, err := ParseCrypto(a.Value); err == nil {
				m.Crypto = append(m.Crypto, c)
				consumed[i] = true
			}
		default:
			if dir, ok := parseDirection(a.Key); ok && !dirSeen {
				m.Direction = dir
				dirSeen, consumed[i] = true, true
			}
		}
	}
	for _, f := range m.Formats {
		pt, ok := parsePayloadType(f)
		if !ok {
			continue
		}
		var c Codec
		if i, has := firstRtpmap[pt]; has {
			c, ok = parseRtpmap(pt, attrs[i].Value)
			if !ok {
				continue
			}
			consumed[i] = true
		} else if c, ok = staticCodec(pt); !ok {
			continue
		}
		if i, has := firstFmtp[pt]; has {
			_, v, _ := strings.Cut(strings.TrimSpace(attrs[i].Value), " ")
			c.Fmtp = strings.TrimSpace(v)
			consumed[i] = true
		}
		m.Codecs = append(m.Codecs, c)
	}
	for i, a := range attrs {
		if !consumed[i] && !noName(a.Key) {
			m.Attributes = append(m.Attributes, Attribute{Key: a.Key, Value: a.Value})
		}
	}
	return m, nil
}

func parsePayloadType(s string) (uint8, bool) {
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil || v > 127 || strconv.FormatUint(v, 10) != s { // "00", "+0" are not payload types
		return 0, false
	}
	return uint8(v), true
}

// parseRtpmap reads "PT NAME/RATE[/1]" for an understood 8000 Hz encoding.
func parseRtpmap(pt uint8, value string) (Codec, bool) {
	_, rest, _ := strings.Cut(strings.TrimSpace(value), " ")
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "1") {
		return Codec{}, false
	}
	enc, ok := parseEncoding(parts[0])
	if !ok || parts[1] != "8000" {
		return Codec{}, false
	}
	return Codec{PayloadType: pt, Encoding: enc, ClockRate: 8000}, true
}

// Marshal writes d as an SDP body with CRLF line endings (v=0, o=, s=, c=,
// t=0 0, then each m= line with its c= when it differs from the session's,
// a=rtpmap and a=fmtp for every codec, a=ptime, a=label, the direction, the
// a=crypto lines — keys included — and the kept attributes). Errors wrap
// ErrMalformedSDP and name the bad field.
func (d *SessionDescription) Marshal() ([]byte, error) {
	if err := checkLine("origin username", d.Origin.Username); err != nil {
		return nil, err
	}
	if err := checkLine("origin address", d.Origin.Address); err != nil {
		return nil, err
	}
	if err := checkLine("session name", d.SessionName); err != nil {
		return nil, err
	}
	user := d.Origin.Username
	if user == "" {
		user = "-"
	}
	if strings.ContainsAny(user, " \t") {
		return nil, fmt.Errorf("%w: origin username %q contains white space", ErrMalformedSDP, user)
	}
	oaddr := d.Origin.Address
	switch {
	case oaddr == "" && d.Address.IsValid():
		oaddr = d.Address.String()
	case oaddr == "":
		oaddr = "0.0.0.0"
	case strings.ContainsAny(oaddr, " \t"):
		return nil, fmt.Errorf("%w: origin address %q contains white space", ErrMalformedSDP, oaddr)
	}
	name := d.SessionName
	if name == "" {
		name = "-"
	}
	sd := psdp.SessionDescription{
		Origin: psdp.Origin{
			Username:       user,
			SessionID:      d.Origin.SessionID,
			SessionVersion: d.Origin.SessionVersion,
			NetworkType:    "IN",
			AddressType:    addrTypeOf(oaddr),
			UnicastAddress: oaddr,
		},
		SessionName:      psdp.SessionName(name),
		TimeDescriptions: []psdp.TimeDescription{{}},
	}
	if d.Address.IsValid() {
		sd.ConnectionInformation = connection(d.Address)
	}
	var err error
	if sd.Attributes, err = marshalAttributes(nil, d.Attributes); err != nil {
		return nil, err
	}
	for i := range d.Media {
		md, err := d.marshalMedia(&d.Media[i])
		if err != nil {
			return nil, fmt.Errorf("m-line %d: %w", i, err)
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, md)
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedSDP, err)
	}
	return b, nil
}

func (d *SessionDescription) marshalMedia(m *Media) (*psdp.MediaDescription, error) {
	if m.Type == "" || strings.ContainsAny(m.Type, " \t\r\n") {
		return nil, fmt.Errorf("%w: media type %q", ErrMalformedSDP, m.Type)
	}
	if m.Port < 0 || m.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range", ErrMalformedSDP, m.Port)
	}
	proto := m.Protocol
	if proto == "" {
		proto = "RTP/AVP"
	}
	if strings.ContainsAny(proto, " \t\r\n") {
		return nil, fmt.Errorf("%w: protocol %q", ErrMalformedSDP, proto)
	}
	formats := m.Formats
	if len(formats) == 0 {
		for _, c := range m.Codecs {
			formats = append(formats, strconv.Itoa(int(c.PayloadType)))
		}
	}
	if len(formats) == 0 {
		return nil, fmt.Errorf("%w: no formats and no codecs", ErrMalformedSDP)
	}
	for _, f := range formats {
		if f == "" || strings.ContainsAny(f, " \t\r\n") {
			return nil, fmt.Errorf("%w: format %q", ErrMalformedSDP, f)
		}
	}
	md := &psdp.MediaDescription{MediaName: psdp.MediaName{
		Media:   m.Type,
		Port:    psdp.RangedPort{Value: m.Port},
		Protos:  strings.Split(proto, "/"),
		Formats: formats,
	}}
	switch {
	case m.Address.IsValid() && m.Address != d.Address:
		md.ConnectionInformation = connection(m.Address)
	case !m.Address.IsValid() && !d.Address.IsValid() && m.Port != 0:
		return nil, fmt.Errorf("%w: no connection address for the line or the session", ErrMalformedSDP)
	}
	written := map[uint8]bool{}
	for _, c := range m.Codecs {
		if c.PayloadType > 127 {
			return nil, fmt.Errorf("%w: payload type %d out of range", ErrMalformedSDP, c.PayloadType)
		}
		if !containsFormat(formats, c.PayloadType) {
			return nil, fmt.Errorf("%w: codec %v is not in the format list %q", ErrMalformedSDP, c, formats)
		}
		if written[c.PayloadType] {
			continue
		}
		written[c.PayloadType] = true
		rate := c.ClockRate
		if rate == 0 {
			rate = 8000
		}
		pt := strconv.Itoa(int(c.PayloadType))
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "rtpmap", Value: pt + " " + c.Encoding.String() + "/" + strconv.Itoa(rate)})
		if c.Fmtp != "" {
			if err := checkLine("fmtp", c.Fmtp); err != nil {
				return nil, err
			}
			md.Attributes = append(md.Attributes, psdp.Attribute{Key: "fmtp", Value: pt + " " + c.Fmtp})
		}
	}
	if m.PTime > 0 {
		if m.PTime%time.Millisecond != 0 {
			return nil, fmt.Errorf("%w: ptime %v is not a whole number of milliseconds", ErrMalformedSDP, m.PTime)
		}
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "ptime", Value: strconv.FormatInt(m.PTime.Milliseconds(), 10)})
	}
	if m.Label != "" {
		if err := checkLine("label", m.Label); err != nil {
			return nil, err
		}
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "label", Value: m.Label})
	}
	if m.Direction > Inactive {
		return nil, fmt.Errorf("%w: direction %v", ErrMalformedSDP, m.Direction)
	}
	md.Attributes = append(md.Attributes, psdp.Attribute{Key: m.Direction.String()})
	for _, c := range m.Crypto {
		v, err := c.Marshal()
		if err != nil {
			return nil, err
		}
		md.Attributes = append(md.Attributes, psdp.Attribute{Key: "crypto", Value: v})
	}
	var err error
	md.Attributes, err = marshalAttributes(md.Attributes, m.Attributes)
	return md, err
}

func containsFormat(formats []string, pt uint8) bool {
	s := strconv.Itoa(int(pt))
	for _, f := range formats {
		if f == s {
			return true
		}
	}
	return false
}

func marshalAttributes(dst []psdp.Attribute, attrs []Attribute) ([]psdp.Attribute, error) {
	for _, a := range attrs {
		if a.Key == "" || strings.ContainsAny(a.Key, ":\r\n\x00") {
			return nil, fmt.Errorf("%w: attribute name %q", ErrMalformedSDP, a.Key)
		}
		if err := checkLine("attribute "+a.Key, a.Value); err != nil {
			return nil, err
		}
		dst = append(dst, psdp.Attribute{Key: a.Key, Value: a.Value})
	}
	return dst, nil
}

// checkLine refuses values that would break out of their SDP line.
func checkLine(what, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%w: %s %q contains a line break", ErrMalformedSDP, what, v)
	}
	return nil
}

func addrTypeOf(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		return "IP6"
	}
	return "IP4"
}

func connection(a netip.Addr) *psdp.ConnectionInformation {
	t := "IP4"
	if a.Is6() {
		t = "IP6"
	}
	return &psdp.ConnectionInformation{NetworkType: "IN", AddressType: t, Address: &psdp.Address{Address: a.String()}}
}
